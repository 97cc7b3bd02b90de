# Builds, resets and removes an emulated Power frame for the tests: a bridge in this host's network namespace, one
# network namespace each for the HMC, the VIOS and the partition slots, an sshd (Debian's openssh-server) in each
# whose ForceCommand is the emulator, the frame's state and disks, and partition lpar1 running with its applications.
#
#   lab.py up    --frame DIR --id ID [--apps N] [--proc-units U] [--mem MB]   prints the frame's facts as JSON
#   lab.py reset --frame DIR --id ID [...]      a fresh frame on the running endpoints (partitions rebooted)
#   lab.py down  --frame DIR --id ID            stops every process it started (by pid), removes links and namespaces
#
# Everything is named after ID (2-6 lower-case letters or digits), so that frames of different tests cannot collide.
import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
import warnings

with warnings.catch_warnings():
    warnings.simplefilter('ignore', DeprecationWarning)
    import crypt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import frame as fr  # noqa: E402
import partition  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SLOTS = 3
ROOTVG_LVS = [('hd5', 'boot', 1, 'N/A'), ('hd6', 'paging', 16, 'N/A'), ('hd8', 'jfs2log', 1, 'N/A'), ('hd4', 'jfs2', 16, '/'),
              ('hd2', 'jfs2', 80, '/usr'), ('hd9var', 'jfs2', 16, '/var'), ('hd3', 'jfs2', 8, '/tmp'), ('hd1', 'jfs2', 4, '/home'),
              ('hd10opt', 'jfs2', 16, '/opt'), ('hd11admin', 'jfs2', 4, '/admin'), ('livedump', 'jfs2', 8, '/var/adm/ras/livedump')]
DISKS_MB = [30720, 30720, 30720, 4096, 30720]


def names(ident):
    return {'bridge': 'lu%sbr' % ident, 'hmc': 'lu%shmc' % ident, 'vios': 'lu%svio' % ident,
            'slots': ['lu%ss%d' % (ident, i) for i in range(1, SLOTS + 1)]}


def subnet(ident):
    h = int(hashlib.sha256(ident.encode()).hexdigest(), 16)
    return '10.%d.%d' % (200 + h % 50, (h >> 8) % 250 + 1)


def sh(*argv, check=True):
    return fr.run(list(argv), check=check)


def hash_password(pw):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return crypt.crypt(pw, crypt.mksalt(crypt.METHOD_SHA512))


def accounts(path, users):
    """A passwd and shadow of the host's plus the endpoint's users (uid 0), laid over /etc inside its sshd's namespace."""
    with open('/etc/passwd') as f:
        passwd = [l for l in f.read().splitlines() if l.split(':')[0] not in users]
    with open('/etc/shadow') as f:
        shadow = [l for l in f.read().splitlines() if l.split(':')[0] not in users]
    for user, pw in users.items():
        passwd.append('%s:x:0:0:%s:/:/bin/sh' % (user, user))
        shadow.append('%s:%s:19000:0:99999:7:::' % (user, hash_password(pw)))
    for suffix, lines, mode in (('.passwd', passwd, 0o644), ('.shadow', shadow, 0o600)):
        with open(path + suffix, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        os.chmod(path + suffix, mode)


def keygen(path):
    if not os.path.exists(path):
        sh('ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', os.path.basename(path), '-f', path)
    with open(path + '.pub') as f:
        return f.read().strip()


def network(ident, net):
    n = names(ident)
    if sh('ip', 'link', 'show', n['bridge'], check=False).returncode != 0:
        sh('ip', 'link', 'add', n['bridge'], 'type', 'bridge')
        sh('ip', 'addr', 'add', net + '.1/24', 'dev', n['bridge'])
        sh('ip', 'link', 'set', n['bridge'], 'up')
    for i, ns in enumerate([n['hmc'], n['vios']] + n['slots']):
        if os.path.exists('/run/netns/' + ns):
            continue
        sh('ip', 'netns', 'add', ns)
        host = 'lu%sv%d' % (ident, i)
        sh('ip', 'link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
        sh('ip', 'link', 'set', host, 'master', n['bridge'])
        sh('ip', 'link', 'set', host, 'up')
        sh('ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv4.conf.eth0.promote_secondaries=1', 'net.ipv4.conf.default.promote_secondaries=1')
        sh('ip', '-n', ns, 'link', 'set', 'lo', 'up')
        sh('ip', '-n', ns, 'link', 'set', 'eth0', 'up')
    for ns, host in ((n['hmc'], 2), (n['vios'], 3)):
        sh('ip', '-n', ns, 'addr', 'replace', '%s.%d/24' % (net, host), 'dev', 'eth0')


def start_endpoint(root, role, ns, address, users):
    run = os.path.join(root, 'run', role)
    os.makedirs(run, exist_ok=True)
    pidfile = os.path.join(run, 'sshd.pid')
    if os.path.exists(pidfile):
        with open(pidfile) as f:
            if fr.alive(int(f.read().strip() or 0)):
                return
    key = os.path.join(run, 'ssh_host_ed25519_key')
    keygen(key)
    accounts(os.path.join(run, 'accounts'), users)
    conf = os.path.join(run, 'sshd_config')
    with open(conf, 'w') as f:
        f.write(partition.sshd_config(key, os.path.join(run, 'authorized_keys'), pidfile,
                                      '%s %s %s' % (build_client(root), role, root), listen=address))
    fr.spawn(partition.sshd_command(ns, os.path.join(run, 'accounts'), conf, run), os.path.join(run, 'sshd.log'))
    deadline = time.time() + 10
    while not os.path.exists(pidfile):
        if time.time() > deadline:
            raise SystemExit('sshd of the %s did not start; see %s' % (role, os.path.join(run, 'sshd.log')))
        time.sleep(0.01)


def new_state(ident, net, opts, client_key, root_pw):
    n = names(ident)
    s = {'system': {'name': 'Server-9080-HEX-SN78%sX' % ident.upper()[:5], 'type_model': '9080-HEX', 'serial': '78' + ident.upper()[:5],
                    'proc_units': opts.proc_units, 'mem': opts.mem, 'firmware_mem': 1024},
         'next_lpar_id': 3, 'lpars': {}, 'disks': {}, 'vgda': {},
         'vios': {'name': 'vios1', 'address': net + '.3', 'adapters': [], 'vtds': [], 'next_vtd': 0},
         'slots': {'s%d' % i: {'ns': ns} for i, ns in enumerate(n['slots'], 1)},
         'network': {'prefix': net, 'netmask': '255.255.255.0'}}
    s['lpars']['vios1'] = {'id': 1, 'env': 'vioserver', 'state': 'Running', 'curr_profile': 'default', 'uuid': str(uuid.uuid4()).upper(),
                           'profile': {'min_mem': 2048, 'desired_mem': 4096, 'max_mem': 8192, 'proc_mode': 'shared', 'min_proc_units': 0.5,
                                       'desired_proc_units': 1.0, 'max_proc_units': 2.0, 'min_procs': 1, 'desired_procs': 1, 'max_procs': 2,
                                       'sharing_mode': 'uncap', 'uncap_weight': 255, 'max_virtual_slots': 200, 'virtual_scsi_adapters': 'none',
                                       'boot_mode': 'norm'},
                           'slot': None, 'os': None, 'proc_units': 1.0, 'procs': 1, 'mem': 4096}
    s['lpars']['lpar1'] = {'id': 2, 'env': 'aixlinux', 'state': 'Not Activated', 'curr_profile': 'default', 'uuid': str(uuid.uuid4()).upper(),
                           'profile': {'min_mem': 1024, 'desired_mem': 4096, 'max_mem': 8192, 'proc_mode': 'shared', 'min_proc_units': 0.1,
                                       'desired_proc_units': 0.5, 'max_proc_units': 2.0, 'min_procs': 1, 'desired_procs': 1, 'max_procs': 2,
                                       'sharing_mode': 'uncap', 'uncap_weight': 128, 'max_virtual_slots': 20,
                                       'virtual_scsi_adapters': '2/client/1/vios1/11/1', 'virtual_eth_adapters': '4/0/1//0/0', 'boot_mode': 'norm'},
                           'slot': None, 'os': None, 'proc_units': 0.0, 'procs': 0, 'mem': 0}
    s['vios']['adapters'].append({'slot': 11, 'remote_lpar_id': 2, 'remote_lpar_name': 'lpar1', 'remote_slot': 2, 'vhost': 'vhost0'})
    sizes = DISKS_MB + [2048] * opts.apps
    for i, mb in enumerate(sizes):
        s['disks']['hdisk%d' % i] = {'pvid': '00f6f42a%08x' % (0x3b12f500 + i * 0x1111 + int(hashlib.sha256(ident.encode()).hexdigest()[:4], 16)),
                                     'size_mb': mb, 'vgid': None}
        s['vios']['vtds'].append({'name': 'vtscsi%d' % i, 'vhost': 'vhost0', 'disk': 'hdisk%d' % i, 'lun': i + 1})
    s['vios']['next_vtd'] = len(sizes)
    return s


def build_disks(root, s, ident, opts, client_key, apps):
    f = fr.Frame(root)
    f.state = s
    shutil.rmtree(f.path('disks'), ignore_errors=True)
    shutil.rmtree(f.path('lvcopies'), ignore_errors=True)
    for d in s['disks']:
        f.wipe_disk(d)
    rootvg = '00f6f42a00004c00' + hashlib.sha256(('rootvg' + ident).encode()).hexdigest()[:16]
    s['vgda'][rootvg] = {'kind': 'root', 'quorum': True,
                         'lvs': {lv: {'type': t, 'lps': lps, 'mount': mp, 'copies': ['hdisk0']} for lv, t, lps, mp in ROOTVG_LVS}}
    s['disks']['hdisk0']['vgid'] = rootvg
    vgs = {'rootvg': rootvg}
    for i, app in enumerate(apps):
        vgid = '00f6f42a00004d%02d' % i + hashlib.sha256((app['vg'] + ident).encode()).hexdigest()[:16]
        disk = 'hdisk%d' % (len(DISKS_MB) + i)
        s['vgda'][vgid] = {'kind': 'data', 'quorum': True, 'lvs': {app['lv']: {'type': 'jfs2', 'lps': 16, 'mount': app['mount'], 'copies': [disk]}}}
        s['disks'][disk]['vgid'] = vgid
        vgs[app['vg']] = vgid
        os.makedirs(f.lv_dir(disk, app['lv']), exist_ok=True)
        open(os.path.join(f.lv_dir(disk, app['lv']), 'records.log'), 'w').close()
    for lv, *_ in ROOTVG_LVS:
        os.makedirs(f.lv_dir('hdisk0', lv), exist_ok=True)
    hd4 = f.lv_dir('hdisk0', 'hd4')
    os.makedirs(os.path.join(hd4, 'etc/ssh'), exist_ok=True)
    os.makedirs(os.path.join(hd4, '.ssh'), exist_ok=True)
    shutil.copy(os.path.join(root, 'run', 'lpar1_host_key'), os.path.join(hd4, 'etc/ssh/ssh_host_ed25519_key'))
    os.chmod(os.path.join(hd4, 'etc/ssh/ssh_host_ed25519_key'), 0o600)
    with open(os.path.join(hd4, '.ssh/authorized_keys'), 'w') as fh:
        fh.write(client_key + '\n')
    net = s['network']
    odm = {'hostname': 'lpar1', 'en0': {'netaddr': net['prefix'] + '.11', 'netmask': net['netmask'], 'aliases': [[a['address'], net['netmask']] for a in apps]},
           'vgs': vgs, 'filesets': {'bos.rte': '7.3.2.1', 'bos.mp64': '7.3.2.1', 'bos.net.tcp.client_core': '7.3.2.1'}, 'build': '2346', 'bootlist': ['hdisk0']}
    f.write_odm(rootvg, odm)
    for vgid in s['vgda']:
        f.publish_copies(vgid)
    return f


def app_list(ident, opts):
    net = subnet(ident)
    return [{'name': 'recordd' if i == 0 else 'recordd%d' % (i + 1), 'vg': 'datavg%d' % (i + 1), 'lv': 'recd%dlv' % (i + 1),
             'mount': '/data/recordd%d' % (i + 1), 'address': '%s.%d' % (net, 31 + i), 'port': 7000} for i in range(opts.apps)]


def aix(root, ns, slot, line):
    import emulator
    out, err, rc, _ = emulator.handle(root, 'slot', slot, line, b'')
    if rc != 0:
        raise SystemExit('%s failed: %s' % (line, err))


def build_client(root):
    """The endpoints' login command: shell.c compiled when a C compiler is there (it starts in a millisecond), else shell.py."""
    out = os.path.join(root, 'run', 'shell')
    cc = shutil.which('cc') or shutil.which('gcc')
    if cc and not os.path.exists(out):
        r = subprocess.run([cc, '-O2', '-o', out, os.path.join(HERE, 'shell.c')], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            print('cc failed, shell.py serves the endpoints: %s' % r.stderr.decode(), file=sys.stderr)
    return out if os.path.exists(out) else '/usr/bin/python3 -S -E %s' % os.path.join(HERE, 'shell.py')


def start_server(root):
    pidfile = os.path.join(root, 'run', 'emulator.pid')
    if os.path.exists(pidfile):
        with open(pidfile) as fh:
            if fr.alive(int(fh.read().strip() or 0)):
                return
        os.remove(pidfile)
    fr.spawn(['/usr/bin/python3', '-S', '-E', os.path.join(HERE, 'server.py'), root], os.path.join(root, 'run', 'emulator.log'))
    deadline = time.time() + 10
    while not os.path.exists(pidfile):
        if time.time() > deadline:
            raise SystemExit('the emulator server did not start; see %s' % os.path.join(root, 'run', 'emulator.log'))
        time.sleep(0.01)


def stop_partitions(root):
    if not os.path.exists(os.path.join(root, 'state.json')):
        return
    f = fr.Frame(root)
    f.lock()
    try:
        for name, l in f.state['lpars'].items():
            if l['env'] == 'aixlinux' and l['state'] == 'Running':
                partition.shutdown(f, name)
        f.save()
    finally:
        f.unlock()


def fresh(root, ident, opts, client_key):
    """A new frame state on running endpoints: lpar1 booted from hdisk0, its data volume groups mounted, recordd running."""
    stop_partitions(root)
    for name in ('commands.log', 'unknown.log', 'faults.json'):
        if os.path.exists(os.path.join(root, name)):
            os.remove(os.path.join(root, name))
    net = subnet(ident)
    apps = app_list(ident, opts)
    s = new_state(ident, net, opts, client_key, opts.password)
    f = build_disks(root, s, ident, opts, client_key, apps)
    f.save()
    f.lock()
    try:
        partition.boot(f, 'lpar1')
        f.save()
    finally:
        f.unlock()
    slot = f.state['lpars']['lpar1']['slot']
    ns = f.state['slots'][slot]['ns']
    for a in apps:
        aix(root, ns, slot, 'varyonvg %s' % a['vg'])
        aix(root, ns, slot, 'mount %s' % a['mount'])
        aix(root, ns, slot, '/opt/recordd/bin/recordd-ctl start %s %s %d' % (a['mount'], a['address'], a['port']))
    for name in ('commands.log', 'unknown.log'):
        if os.path.exists(os.path.join(root, name)):
            os.remove(os.path.join(root, name))
    return apps


def up(opts):
    root = os.path.abspath(opts.frame)
    os.makedirs(os.path.join(root, 'run'), exist_ok=True)
    os.chmod(root, 0o700)
    os.makedirs('/run/sshd', exist_ok=True)
    net = subnet(opts.ident)
    network(opts.ident, net)
    client = os.path.join(root, 'client', 'id_ed25519')
    os.makedirs(os.path.dirname(client), exist_ok=True)
    client_pub = keygen(client)
    keygen(os.path.join(root, 'run', 'lpar1_host_key'))
    start_server(root)
    users = {'hmc': {'hscroot': opts.password}, 'vios': {'padmin': opts.password}}
    n = names(opts.ident)
    accounts(os.path.join(root, 'run', 'partition'), {'root': opts.password})
    for role, ns, host in (('hmc', n['hmc'], 2), ('vios', n['vios'], 3)):
        os.makedirs(os.path.join(root, 'run', role), exist_ok=True)
        with open(os.path.join(root, 'run', role, 'authorized_keys'), 'w') as fh:
            fh.write(client_pub + '\n')
        start_endpoint(root, role, ns, '%s.%d' % (net, host), users[role])
    apps = fresh(root, opts.ident, opts, client_pub)
    with open(os.path.join(root, 'state.json')) as fh:
        s = json.load(fh)
    print(json.dumps({
        'frame': root, 'id': opts.ident, 'system': s['system']['name'], 'hmc': net + '.2', 'vios': net + '.3', 'lpar1': net + '.11',
        'surrogateAddresses': [net + '.21', net + '.22'], 'netmask': '255.255.255.0', 'clientKey': client, 'password': opts.password,
        'hostKeys': {'hmc': keygen(os.path.join(root, 'run', 'hmc', 'ssh_host_ed25519_key')),
                     'vios': keygen(os.path.join(root, 'run', 'vios', 'ssh_host_ed25519_key')),
                     'lpar1': keygen(os.path.join(root, 'run', 'lpar1_host_key'))},
        'applications': apps,
    }))


def end_processes_in(ns):
    """Ends what still runs in a namespace of the frame (the sessions its sshd forked for clients that have gone):
    once the namespace's links are gone no FIN reaches them, and they would wait for their clients forever."""
    out = subprocess.run(['ip', 'netns', 'pids', ns], capture_output=True, text=True).stdout.split()
    pids = [int(p) for p in out if p.isdigit() and int(p) != os.getpid()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for pid in pids:
        fr.stop_pid(pid)


def down(opts):
    root = os.path.abspath(opts.frame)
    try:
        stop_partitions(root)
    except Exception as e:  # the frame may be half built; the processes below are stopped regardless
        print('partitions: %s' % e, file=sys.stderr)
    for pidfile in [os.path.join(root, 'run', role, 'sshd.pid') for role in ('hmc', 'vios')] + [os.path.join(root, 'run', 'emulator.pid')]:
        if os.path.exists(pidfile):
            with open(pidfile) as fh:
                fr.stop_pid(int(fh.read().strip() or 0))
    n = names(opts.ident)
    for ns in [n['hmc'], n['vios']] + n['slots']:
        if os.path.exists('/run/netns/' + ns):
            end_processes_in(ns)
            sh('ip', 'netns', 'delete', ns, check=False)
    for i in range(2 + SLOTS):
        sh('ip', 'link', 'delete', 'lu%sv%d' % (opts.ident, i), check=False)
    sh('ip', 'link', 'delete', n['bridge'], check=False)
    if opts.remove:
        shutil.rmtree(root, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('action', choices=('up', 'down', 'reset'))
    p.add_argument('--frame', required=True)
    p.add_argument('--id', dest='ident', required=True)
    p.add_argument('--apps', type=int, default=1)
    p.add_argument('--proc-units', type=float, default=4.0)
    p.add_argument('--mem', type=int, default=32768)
    p.add_argument('--password', default='Fr4me-pw!')
    p.add_argument('--remove', action='store_true')
    opts = p.parse_args()
    if not opts.ident.isalnum() or not (2 <= len(opts.ident) <= 6) or opts.ident.lower() != opts.ident:
        raise SystemExit('--id takes 2-6 lower-case letters or digits')
    if opts.action == 'up':
        up(opts)
    elif opts.action == 'reset':
        client_pub = keygen(os.path.join(os.path.abspath(opts.frame), 'client', 'id_ed25519'))
        fresh(os.path.abspath(opts.frame), opts.ident, opts, client_pub)
        print(json.dumps({'frame': os.path.abspath(opts.frame)}))
    else:
        down(opts)


main()
