# The emulated Power frame: its state (managed system, partitions, VIOS adapters and mappings, disks, volume group
# descriptors), the contents of its disks, and the processes that stand for running partitions and applications.
# A test double: it lives under tests/ and is never shipped. Python standard library only.
#
# Layout of a frame folder:
#   state.json            the frame (written under state.lock, to a temporary file, then renamed)
#   disks/<hdisk>/lv/<lv>/ the files of one copy of a logical volume on that disk
#   lvcopies/<vgid>.json  where each logical volume of a volume group has its copies (read by the record service)
#   commands.log          every command received (JSON lines: endpoint, argv, exit code, whether it changes state)
#   unknown.log           every command the emulator does not know (the tests assert it stays empty)
#   faults.json           injected faults (a list of rules; see fault_for)
#   run/                  sshd configurations, logs and pid files of the endpoints
import fcntl
import json
import os
import signal
import time

PP_MB = 32


class CommandError(Exception):
    """A command that fails: its message goes to stderr, its code is the exit code."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


class Frame:
    def __init__(self, root):
        self.root = os.path.abspath(root)
        self._lock = None
        self.state = None
        self.changed = False

    # ------------------------------------------------------------------ state

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def lock(self):
        self._lock = open(self.path('state.lock'), 'a+')
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        with open(self.path('state.json')) as f:
            self.state = json.load(f)

    def save(self):
        tmp = self.path('state.json.tmp')
        with open(tmp, 'w') as f:
            json.dump(self.state, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path('state.json'))

    def unlock(self):
        if self._lock:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    # ------------------------------------------------------------------ logging and faults

    def log(self, name, record):
        with open(self.path(name), 'a') as f:
            f.write(json.dumps(record, sort_keys=True) + '\n')

    def fault_for(self, endpoint, argv):
        """The first injected fault that matches: {endpoint, match (prefix of the command line), action, times (-1: always),
        after (drop after the command ran), sticky (then drop every later command of the endpoint)}."""
        try:
            with open(self.path('faults.json')) as f:
                rules = json.load(f)
        except (OSError, ValueError):
            return None
        line = ' '.join(argv)
        for i, r in enumerate(rules):
            if r.get('endpoint', '*') not in ('*', endpoint):
                continue
            if not line.startswith(r.get('match', '')):
                continue
            times = r.get('times', 1)
            if times > 0 or r.get('sticky'):
                times -= 1
                if times == 0:
                    rules.pop(i)
                else:
                    r['times'] = times
                if r.get('sticky'):
                    # From now on every command of this endpoint loses its connection, until the rules are cleared.
                    rules.insert(0, {'endpoint': endpoint, 'match': '', 'action': 'drop', 'times': -1})
                tmp = self.path('faults.json.tmp')
                with open(tmp, 'w') as f:
                    json.dump(rules, f)
                os.replace(tmp, self.path('faults.json'))
            return r
        return None

    # ------------------------------------------------------------------ partitions and slots

    def lpar(self, name):
        return self.state['lpars'].get(name)

    def lpar_by_id(self, lpar_id):
        for name, l in self.state['lpars'].items():
            if l['id'] == lpar_id:
                return name, l
        return None, None

    def lpar_of_slot(self, slot):
        for name, l in self.state['lpars'].items():
            if l.get('slot') == slot:
                return name, l
        return None, None

    # ------------------------------------------------------------------ disks and volume groups

    def disk(self, name):
        return self.state['disks'].get(name)

    def disk_by_pvid(self, pvid):
        for name, d in self.state['disks'].items():
            if d['pvid'] == pvid:
                return name
        return None

    def vgda(self, vgid):
        return self.state['vgda'].get(vgid)

    def vg_disks(self, vgid):
        return sorted([n for n, d in self.state['disks'].items() if d.get('vgid') == vgid], key=disk_order)

    def mapped_disks(self, lpar_id):
        """Disks that the VIOS maps to the partition's virtual SCSI adapter, in LUN order."""
        vios = self.state['vios']
        hosts = {a['vhost'] for a in vios['adapters'] if a.get('vhost') and a['remote_lpar_id'] == lpar_id}
        vtds = [v for v in vios['vtds'] if v['vhost'] in hosts]
        return [v['disk'] for v in sorted(vtds, key=lambda v: v['lun'])]

    def lv_dir(self, disk, lv):
        return self.path('disks', disk, 'lv', lv)

    def lv_copies(self, vgid, lv):
        """The disks that hold a copy of a logical volume (every copy receives each write)."""
        info = self.vgda(vgid)['lvs'][lv]
        return list(info['copies'])

    def publish_copies(self, vgid):
        """Tells the record service where each logical volume of a volume group has its copies now."""
        os.makedirs(self.path('lvcopies'), exist_ok=True)
        g = self.vgda(vgid)
        data = {} if g is None else {lv: [self.lv_dir(d, lv) for d in info['copies']] for lv, info in g['lvs'].items()}
        tmp = self.path('lvcopies', vgid + '.json.tmp')
        with open(tmp, 'w') as f:
            json.dump(data, f)
        os.replace(tmp, self.path('lvcopies', vgid + '.json'))

    def vg_lock(self, vgid):
        os.makedirs(self.path('lvcopies'), exist_ok=True)
        f = open(self.path('lvcopies', vgid + '.lock'), 'a+')
        fcntl.flock(f, fcntl.LOCK_EX)
        return f

    def read_lv_file(self, vgid, lv, rel):
        d = self.lv_copies(vgid, lv)[0]
        p = safe_join(self.lv_dir(d, lv), rel)
        with open(p, 'rb') as f:
            return f.read()

    def write_lv_file(self, vgid, lv, rel, data):
        """Writes a file of a logical volume on every copy, each flushed to disk."""
        for d in self.lv_copies(vgid, lv):
            p = safe_join(self.lv_dir(d, lv), rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, 'wb') as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())

    def copy_lv(self, src_disk, dst_disk, lv, dst_lv=None):
        import shutil
        dst = self.lv_dir(dst_disk, dst_lv or lv)
        if os.path.exists(dst):
            shutil.rmtree(dst)
        shutil.copytree(self.lv_dir(src_disk, lv), dst, symlinks=True)

    def wipe_disk(self, disk):
        import shutil
        shutil.rmtree(self.path('disks', disk, 'lv'), ignore_errors=True)
        os.makedirs(self.path('disks', disk, 'lv'), exist_ok=True)

    # ------------------------------------------------------------------ the operating system on a boot disk

    def odm(self, vgid):
        """The ODM and OS data of an AIX image: etc/odm.json on its hd4 (root file system)."""
        return json.loads(self.read_lv_file(vgid, 'hd4', 'etc/odm.json'))

    def write_odm(self, vgid, odm):
        self.write_lv_file(vgid, 'hd4', 'etc/odm.json', json.dumps(odm, indent=1, sort_keys=True).encode())


def disk_order(name):
    digits = ''.join(c for c in name if c.isdigit())
    return (len(digits), digits, name)


def safe_join(root, rel):
    parts = [p for p in rel.split('/') if p not in ('', '.')]
    if any(p == '..' for p in parts):
        raise CommandError('0403-011 The specified path is not valid.', 2)
    return os.path.join(root, *parts)


def oslevel_of(odm):
    """oslevel -s from the level of bos.rte, as AIX derives it: 7.3.2.1 -> 7300-02-01-<build>."""
    v = odm['filesets']['bos.rte'].split('.')
    return '%s%s00-%02d-%02d-%s' % (v[0], v[1], int(v[2]), int(v[3]), odm.get('build', '2346'))


# ---------------------------------------------------------------------- processes and network


def netns_cmd(ns, *argv):
    return ['ip', 'netns', 'exec', ns] + list(argv)


def run(argv, check=True):
    import subprocess
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise CommandError('%s: %s' % (' '.join(argv), r.stderr.strip()), 1)
    return r


def alive(pid):
    if not pid:
        return False
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(') ')[-1].split()[0] != 'Z'
    except OSError:
        return False


def stop_pid(pid, wait=5.0):
    if not alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.time() + wait
    while time.time() < deadline and alive(pid):
        time.sleep(0.01)
    if alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def spawn(argv, log):
    """Starts a daemon detached from the caller (a session of its own); returns its pid."""
    import subprocess
    out = open(log, 'ab')
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True, close_fds=True)
    return p.pid


def prefix_of(mask):
    return sum(bin(int(x)).count('1') for x in mask.split('.'))


def gratuitous_arp(ns_fd_path, ifname, address):
    """Announces an address (gratuitous ARP) from inside the namespace this process runs in."""
    import socket
    import struct
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
        s.bind((ifname, 0))
        mac = s.getsockname()[4]
        ip = socket.inet_aton(address)
        frame = b'\xff' * 6 + mac + b'\x08\x06' + struct.pack('!HHBBH', 1, 0x0800, 6, 4, 1) + mac + ip + b'\x00' * 6 + ip
        for _ in range(2):
            s.send(frame)
        s.close()
    except OSError:
        pass


def ip_in_ns(ns, *args):
    return run(['ip', '-n', ns] + list(args))
