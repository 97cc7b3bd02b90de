# Partitions of the emulated frame coming and going: a partition that is powered on takes a free slot (a network
# namespace that the lab made), boots the AIX image of its first bootable disk (its host name, addresses, host keys
# and authorized keys come from that image) and answers SSH there; powered off, its sshd and applications stop.
import os
import time

import frame as fr

CLONE_NEWNET = 0x40000000
ETH = 'eth0'


def in_namespace(ns, fn, *args):
    """Runs fn(*args) in a forked child that joins a network namespace; returns its (ok, text) result."""
    import ctypes
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            fd = os.open('/run/netns/' + ns, os.O_RDONLY)
            ctypes.CDLL('libc.so.6', use_errno=True).setns(fd, CLONE_NEWNET)
            ok, text = fn(*args)
            os.write(w, (('1' if ok else '0') + text).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b''
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    text = data.decode()
    return text[:1] == '1', text[1:]


def announce(ns, address):
    """Gratuitous ARP for an address from inside a slot's namespace (a forked child joins the namespace)."""
    import ctypes
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open('/run/netns/' + ns, os.O_RDONLY)
            ctypes.CDLL('libc.so.6', use_errno=True).setns(fd, CLONE_NEWNET)
            fr.gratuitous_arp(None, ETH, address)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def configure_network(f, slot, odm):
    ns = f.state['slots'][slot]['ns']
    fr.run(['ip', '-n', ns, 'addr', 'flush', 'dev', ETH])
    en0 = odm['en0']
    addresses = [(en0['netaddr'], en0['netmask'])] + [tuple(a) for a in en0.get('aliases', [])]
    for a, m in addresses:
        fr.run(['ip', '-n', ns, 'addr', 'add', '%s/%d' % (a, fr.prefix_of(m)), 'dev', ETH])
    fr.run(['ip', '-n', ns, 'link', 'set', ETH, 'up'])
    for a, _ in addresses:
        announce(ns, a)


def add_address(f, lpar, address, mask):
    ns = f.state['slots'][lpar['slot']]['ns']
    r = fr.run(['ip', '-n', ns, 'addr', 'add', '%s/%d' % (address, fr.prefix_of(mask)), 'dev', ETH], check=False)
    if r.returncode != 0 and 'exists' not in r.stderr and 'already assigned' not in r.stderr:
        raise fr.CommandError('0821-510 ifconfig: error calling entry point for /usr/lib/drivers/if_en: ' + r.stderr.strip())
    announce(ns, address)


def delete_address(f, lpar, address, mask):
    ns = f.state['slots'][lpar['slot']]['ns']
    fr.run(['ip', '-n', ns, 'addr', 'del', '%s/%d' % (address, fr.prefix_of(mask)), 'dev', ETH], check=False)


def boot_disk(f, lpar_id):
    for d in f.mapped_disks(lpar_id):
        vgid = f.disk(d).get('vgid')
        g = f.vgda(vgid) if vgid else None
        if g and g['kind'] == 'root' and 'hd5' in g['lvs']:
            return vgid
    return None


def boot(f, name):
    lpar = f.lpar(name)
    slot = next((s for s in sorted(f.state['slots']) if f.lpar_of_slot(s)[0] is None), None)
    if slot is None:
        raise fr.CommandError('HSCL0A12 The partition %s cannot be activated: the frame has no room for it.' % name)
    vgid = boot_disk(f, lpar['id'])
    if vgid is None:
        raise fr.CommandError('HSCLA27C The partition %s cannot be activated: it has no bootable disk (SRE B2004158).' % name)
    odm = f.odm(vgid)
    visible = {f.disk(d).get('vgid') for d in f.mapped_disks(lpar['id'])}
    names = {}
    for vg, known in odm['vgs'].items():
        if known == vgid or known not in visible:
            continue
        names['old_rootvg' if vg == 'rootvg' else vg] = known
    names['rootvg'] = vgid
    odm['vgs'] = names
    f.write_odm(vgid, odm)
    mounts = {info['mount']: [vgid, lv] for lv, info in f.vgda(vgid)['lvs'].items() if info.get('mount', 'N/A').startswith('/')}
    lpar['os'] = {'boot_vgid': vgid, 'disks': f.mapped_disks(lpar['id']), 'varied_on': [vgid], 'mounts': mounts, 'awake': None, 'apps': {}}
    lpar['slot'] = slot
    configure_network(f, slot, odm)
    lpar['sshd_pid'] = start_sshd(f, slot, vgid)
    prof = lpar['profile']
    lpar['proc_units'] = float(prof.get('desired_proc_units', 0.5))
    lpar['procs'] = int(prof.get('desired_procs', 1))
    lpar['mem'] = int(prof.get('desired_mem', 1024))
    lpar['state'] = 'Running'


def start_sshd(f, slot, vgid):
    ns = f.state['slots'][slot]['ns']
    disk = f.lv_copies(vgid, 'hd4')[0]
    root = f.lv_dir(disk, 'hd4')
    run = f.path('run', slot)
    os.makedirs(run, exist_ok=True)
    pidfile = os.path.join(run, 'sshd.pid')
    if os.path.exists(pidfile):
        os.remove(pidfile)
    conf = os.path.join(run, 'sshd_config')
    with open(conf, 'w') as c:
        c.write(sshd_config(os.path.join(root, 'etc/ssh/ssh_host_ed25519_key'), os.path.join(root, '.ssh/authorized_keys'), pidfile,
                            '%s slot %s %s' % (login_command(f.root), f.root, slot)))
    pid = fr.spawn(sshd_command(ns, f.path('run', 'partition'), conf, run), os.path.join(run, 'sshd.log'))
    deadline = time.time() + 10
    while time.time() < deadline and not os.path.exists(pidfile):
        if not fr.alive(pid):
            raise fr.CommandError('HSCL0A13 The partition cannot be activated: its operating system did not start (see %s).' % os.path.join(run, 'sshd.log'))
        time.sleep(0.005)
    return pid


def login_command(root):
    """The compiled login command when the lab built it, else shell.py."""
    out = os.path.join(root, 'run', 'shell')
    return out if os.path.exists(out) else '/usr/bin/python3 -S -E %s' % os.path.join(os.path.dirname(os.path.abspath(__file__)), 'shell.py')


def sshd_command(ns, accounts, conf, run):
    """sshd in a slot's network namespace and a mount namespace of its own, where /etc is an overlay of the host's
    with the endpoint's passwd and shadow on top. (A bind mount over /etc/passwd itself would be dropped by the
    kernel as soon as the host replaced its /etc/passwd, e.g. when a package adds a user.)"""
    upper, work = os.path.join(run, 'etc'), os.path.join(run, 'etc.work')
    script = ('rm -rf {u} {w} && mkdir -p {u} {w} && cp {a}.passwd {u}/passwd && cp {a}.shadow {u}/shadow && chmod 600 {u}/shadow && '
              'mount -t overlay overlay -o lowerdir=/etc,upperdir={u},workdir={w} /etc && exec /usr/sbin/sshd -D -e -f {c}').format(u=upper, w=work, a=accounts, c=conf)
    return fr.netns_cmd(ns, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', script)


def sshd_config(host_key, authorized_keys, pidfile, command, listen='0.0.0.0'):
    return '\n'.join([
        'ListenAddress ' + listen, 'Port 22', 'HostKey ' + host_key, 'PidFile ' + pidfile,
        'AuthorizedKeysFile ' + authorized_keys, 'StrictModes no', 'UsePAM no', 'PermitRootLogin yes',
        'PasswordAuthentication yes', 'KbdInteractiveAuthentication no', 'PubkeyAuthentication yes',
        'MaxSessions 64', 'MaxStartups 64:30:128', 'UseDNS no', 'PrintMotd no', 'PrintLastLog no', 'LogLevel ERROR',
        'ForceCommand ' + command, '',
    ])


def shutdown(f, name):
    lpar = f.lpar(name)
    os_ = lpar.get('os') or {}
    for pid in os_.get('apps', {}).values():
        fr.stop_pid(pid)
    fr.stop_pid(lpar.get('sshd_pid'))
    slot = lpar.get('slot')
    if slot:
        fr.run(['ip', '-n', f.state['slots'][slot]['ns'], 'addr', 'flush', 'dev', ETH], check=False)
    lpar.update({'state': 'Not Activated', 'slot': None, 'sshd_pid': None, 'os': None, 'proc_units': 0.0, 'procs': 0, 'mem': 0})
