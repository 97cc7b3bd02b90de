# The AIX commands of an emulated partition, working on the frame's disks: LVM (lspv, lsvg, mirrorvg, unmirrorvg,
# reducevg, chpv, importvg, exportvg, varyonvg, varyoffvg, mount, umount, getlvodm, getconf), the alternate disk
# (alt_disk_copy, alt_rootvg_op, chroot /alt_inst), levels and packages (oslevel, lslpp), the network and host name
# (chdev, hostname, cfgmgr), files (mkdir, rm, dd, openssl dgst, wc, head) and the sample application's control.
import os
import sys
import time

import frame as fr
import partition

BINS = ('/usr/bin/', '/usr/sbin/', '/bin/', '/sbin/', '/etc/')
ALT = '/alt_inst'
RECORDD_CTL = '/opt/recordd/bin/recordd-ctl'


def bare(cmd):
    for b in BINS:
        if cmd.startswith(b):
            return cmd[len(b):]
    return cmd


def ping(address, port):
    import socket
    try:
        with socket.create_connection((address, port), timeout=1) as s:
            s.sendall(b'PING\n')
            return True, s.makefile().readline()
    except OSError as e:
        return False, str(e)


def level_key(v):
    return tuple(int(x) for x in v.split('.'))


class Aix:
    def __init__(self, f, name, stdin=None, chroot=None, env=None):
        self.f = f
        self.env = env if env is not None else {}
        self.binary = None
        self.name = name
        self.l = f.lpar(name)
        self.os = self.l['os']
        self.stdin = stdin
        self.chroot = chroot
        self.changes = False
        self.err = ''

    # ------------------------------------------------------------------ helpers

    @property
    def root_vgid(self):
        return self.chroot or self.os['boot_vgid']

    def odm(self):
        return self.f.odm(self.root_vgid)

    def save_odm(self, odm):
        self.f.write_odm(self.root_vgid, odm)
        self.changes = True

    def disks(self):
        mapped = set(self.f.mapped_disks(self.l['id']))
        return sorted([d for d in self.os['disks'] if d in mapped], key=fr.disk_order)

    def need_disk(self, d):
        if d.startswith('/dev/'):
            d = d[5:]
        if d not in self.disks():
            raise fr.CommandError('0514-519 The following device was not found in the customized device configuration database:\n        %s' % d)
        return d

    def vg_name_of(self, vgid, odm=None):
        odm = odm or self.odm()
        return next((n for n, v in odm['vgs'].items() if v == vgid), None)

    def vgid_of(self, name):
        vgid = self.odm()['vgs'].get(name)
        if vgid is None:
            raise fr.CommandError('0516-306 getlvodm: Unable to find volume group %s in the Device\n        Configuration Database.' % name)
        return vgid

    def varied_on(self, vgid):
        return vgid in self.os['varied_on']

    def need_on(self, name):
        vgid = self.vgid_of(name)
        if not self.varied_on(vgid):
            raise fr.CommandError('0516-010 : Volume group must be varied on; use varyonvg command.')
        return vgid

    def vg_pps(self, vgid):
        return sum(self.f.disk(d)['size_mb'] // fr.PP_MB - 1 for d in self.f.vg_disks(vgid))

    def used_pps(self, vgid, disk=None):
        g = self.f.vgda(vgid)
        return sum(info['lps'] * (len(info['copies']) if disk is None else info['copies'].count(disk)) for info in g['lvs'].values())

    def resolve(self, path):
        """The logical volume and relative path of a file: the mounted file system with the longest mount point."""
        if not path.startswith('/'):
            raise fr.CommandError('0403-011 The specified path %s is not valid.' % path, 2)
        best = None
        for mp, (vgid, lv) in self.os['mounts'].items():
            if self.chroot:
                continue
            if path == mp or path.startswith(mp.rstrip('/') + '/'):
                if best is None or len(mp) > len(best[0]):
                    best = (mp, vgid, lv)
        if best is None:
            raise fr.CommandError('%s: A file or directory in the path name does not exist.' % path)
        mp, vgid, lv = best
        return vgid, lv, path[len(mp):].lstrip('/')

    def host_path(self, path):
        vgid, lv, rel = self.resolve(path)
        return fr.safe_join(self.f.lv_dir(self.f.lv_copies(vgid, lv)[0], lv), rel)

    def write_file(self, path, data):
        vgid, lv, rel = self.resolve(path)
        self.f.write_lv_file(vgid, lv, rel, data)
        self.changes = True

    # ------------------------------------------------------------------ dispatch

    def run(self, argv):
        if bare(argv[0]) == 'env' and not self.chroot:
            i = 1
            while i < len(argv) and '=' in argv[i] and argv[i].split('=', 1)[0].isidentifier():
                k, v = argv[i].split('=', 1)
                self.env[k] = v
                i += 1
            if i == len(argv):
                raise fr.CommandError('Usage: env [Name=Value ...] Command', 2)
            argv = argv[i:]
        cmd = bare(argv[0])
        if argv[0] == RECORDD_CTL:
            cmd = 'recordd-ctl'
        if self.chroot and cmd not in ('oslevel', 'lslpp', 'chdev'):
            return None
        handler = getattr(self, 'c_' + cmd.replace('-', '_'), None)
        if handler is None or (argv[0] != RECORDD_CTL and cmd == 'recordd-ctl'):
            return None
        return handler(argv[1:])

    # ------------------------------------------------------------------ disks and volume groups

    def c_lspv(self, args):
        if args:
            raise fr.CommandError('Usage: lspv [-L] [-l | -M | -p] PhysicalVolume', 2)
        odm, lines = self.odm(), []
        for d in self.disks():
            info = self.f.disk(d)
            vg = self.vg_name_of(info.get('vgid'), odm) if info.get('vgid') else None
            status = 'active' if vg and self.varied_on(info['vgid']) else ''
            lines.append(('%-15s %-35s %-15s %s' % (d, info['pvid'], vg or 'None', status)).rstrip())
        return '\n'.join(lines) + '\n'

    def c_getconf(self, args):
        if len(args) != 2 or args[0] != 'DISK_SIZE':
            raise fr.CommandError('Usage: getconf DISK_SIZE /dev/hdiskN', 2)
        return '%d\n' % self.f.disk(self.need_disk(args[1]))['size_mb']

    def c_getlvodm(self, args):
        if len(args) != 2 or args[0] != '-j':
            raise fr.CommandError('usage: getlvodm -j PVname', 2)
        d = self.need_disk(args[1])
        vgid = self.f.disk(d).get('vgid')
        if not vgid or self.vg_name_of(vgid) is None:
            raise fr.CommandError('', 3)
        return vgid + '\n'

    def c_lsvg(self, args):
        odm = self.odm()
        if not args:
            names = sorted(odm['vgs'], key=lambda n: (n != 'rootvg', n))
            return ''.join(n + '\n' for n in names)
        if args == ['-o']:
            names = [n for n, v in sorted(odm['vgs'].items(), key=lambda kv: (kv[0] != 'rootvg', kv[0])) if self.varied_on(v)]
            return ''.join(n + '\n' for n in names)
        if len(args) == 2 and args[0] in ('-l', '-p'):
            vgid = self.need_on(args[1])
            return (self.lsvg_l if args[0] == '-l' else self.lsvg_p)(args[1], vgid)
        if len(args) == 1 and not args[0].startswith('-'):
            return self.lsvg_vg(args[0], self.need_on(args[0]))
        raise fr.CommandError('Usage: lsvg [-o] [-l | -p] VolumeGroup', 2)

    def lsvg_vg(self, name, vgid):
        g = self.f.vgda(vgid)
        total, used = self.vg_pps(vgid), self.used_pps(vgid)
        n = len(self.f.vg_disks(vgid))

        def row(k1, v1, k2=None, v2=None):
            return ('%-20s%-25s%-16s%s' % (k1, v1, k2 or '', '' if v2 is None else v2)).rstrip()
        mb = fr.PP_MB
        return '\n'.join([
            row('VOLUME GROUP:', name, 'VG IDENTIFIER:', vgid),
            row('VG STATE:', 'active', 'PP SIZE:', '%d megabyte(s)' % mb),
            row('VG PERMISSION:', 'read/write', 'TOTAL PPs:', '%d (%d megabytes)' % (total, total * mb)),
            row('MAX LVs:', '256', 'FREE PPs:', '%d (%d megabytes)' % (total - used, (total - used) * mb)),
            row('LVs:', str(len(g['lvs'])), 'USED PPs:', '%d (%d megabytes)' % (used, used * mb)),
            row('OPEN LVs:', str(sum(1 for mp, (v, _) in self.os['mounts'].items() if v == vgid)), 'QUORUM:', '%d (%s)' % (n // 2 + 1, 'Enabled' if g['quorum'] else 'Disabled')),
            row('TOTAL PVs:', str(n), 'VG DESCRIPTORS:', str(max(2, n + 1) if n < 3 else n)),
            row('STALE PVs:', '0', 'STALE PPs:', '0'),
            row('ACTIVE PVs:', str(n), 'AUTO ON:', 'yes'),
            row('MAX PPs per VG:', '32512', 'MAX PVs:', '32'),
            row('LTG size (Dynamic):', '512 kilobyte(s)', 'AUTO SYNC:', 'no'),
            row('HOT SPARE:', 'no', 'BB POLICY:', 'relocatable'),
            row('PV RESTRICTION:', 'none', 'INFINITE RETRY:', 'no'),
            row('DISK BLOCK SIZE:', '512', 'CRITICAL VG:', 'no'),
            row('FS SYNC OPTION:', 'no', 'CRITICAL PVs:', 'no'),
            row('ENCRYPTION:', 'no'),
        ]) + '\n'

    def lsvg_l(self, name, vgid):
        g = self.f.vgda(vgid)
        out = [name + ':', 'LV NAME             TYPE       LPs     PPs     PVs  LV STATE      MOUNT POINT']
        mounted = {tuple(v): mp for mp, v in self.os['mounts'].items()}
        for lv, info in g['lvs'].items():
            state = 'open/syncd' if (vgid, lv) in mounted or info['type'] in ('paging', 'jfs2log', 'boot') and vgid == self.os['boot_vgid'] else 'closed/syncd'
            out.append(('%-20s%-11s%-8d%-8d%-5d%-14s%s' % (lv, info['type'], info['lps'], info['lps'] * len(info['copies']),
                                                         len(set(info['copies'])), state, info.get('mount', 'N/A'))).rstrip())
        return '\n'.join(out) + '\n'

    def lsvg_p(self, name, vgid):
        out = [name + ':', 'PV_NAME           PV STATE          TOTAL PPs   FREE PPs    FREE DISTRIBUTION']
        for d in self.f.vg_disks(vgid):
            total = self.f.disk(d)['size_mb'] // fr.PP_MB - 1
            free = total - self.used_pps(vgid, d)
            q, r = divmod(free, 5)
            dist = '..'.join(str(q + (1 if i < r else 0)) for i in range(5))
            out.append('%-18s%-18s%-12d%-12d%s' % (d, 'active', total, free, dist))
        return '\n'.join(out) + '\n'

    def free_disks(self, names, purpose):
        disks = []
        for n in names:
            d = self.need_disk(n)
            vgid = self.f.disk(d).get('vgid')
            if vgid and self.vg_name_of(vgid):
                raise fr.CommandError('0516-1254 %s: Changing the PVID in the ODM.\n0516-1398 %s: The physical volume %s, appears to belong to\nanother volume group. Use the force option to add this physical volume\nto a volume group.' % (purpose, purpose, d))
            disks.append(d)
        return disks

    def c_mirrorvg(self, args):
        opts, rest = [], list(args)
        copies = None
        while rest and rest[0].startswith('-'):
            a = rest.pop(0)
            if a == '-c':
                copies = int(rest.pop(0))
            elif a != '-S':
                raise fr.CommandError('mirrorvg: Not a recognized flag: %s' % a, 2)
        if len(rest) < 2:
            raise fr.CommandError('Usage: mirrorvg [-S] [-c Copies] VolumeGroup [PhysicalVolume...]', 2)
        name, disks = rest[0], self.free_disks(rest[1:], 'mirrorvg')
        vgid = self.need_on(name)
        g = self.f.vgda(vgid)
        have = max(len(i['copies']) for i in g['lvs'].values())
        want = copies or have + 1
        if have >= 3 or want > 3:
            raise fr.CommandError('0516-1509 mirrorvg: VG %s already has the maximum of 3 copies of each logical volume.' % name)
        need = sum(i['lps'] for i in g['lvs'].values()) * (want - have)
        room = sum(self.f.disk(d)['size_mb'] // fr.PP_MB - 1 for d in disks)
        if need > room:
            raise fr.CommandError('0516-404 allocp: This system cannot fulfill the allocation request.\n\tThere are not enough free partitions or not enough physical volumes\n\tto keep strictness and satisfy allocation requests.  The command\n\tshould be retried with different allocation characteristics.')
        lock = self.f.vg_lock(vgid)
        try:
            for d in disks:
                self.f.disk(d)['vgid'] = vgid
            for lv, info in g['lvs'].items():
                target = disks[0]
                self.f.copy_lv(info['copies'][0], target, lv)
                info['copies'].append(target)
            if name == 'rootvg':
                g['quorum'] = False
            self.f.publish_copies(vgid)
        finally:
            lock.close()
        self.changes = True
        msg = '0516-1804 chvg: The quorum change takes effect immediately.\n' if name == 'rootvg' else ''
        self.err = msg + ('0516-1126 mirrorvg: %s successfully mirrored, user should perform\n\tbosboot of system to initialize boot records.  Then, user must modify\n\tbootlist to include:  %s %s.\n'
                          % (name, ' '.join(disks), ' '.join(d for d in self.f.vg_disks(vgid) if d not in disks)) if name == 'rootvg'
                          else '0516-1126 mirrorvg: %s successfully mirrored.\n' % name)
        return ''

    def c_syncvg(self, args):
        if len(args) != 2 or args[0] != '-v':
            raise fr.CommandError('Usage: syncvg -v VolumeGroup', 2)
        self.need_on(args[1])
        return ''

    def c_unmirrorvg(self, args):
        import shutil
        if len(args) < 2:
            raise fr.CommandError('Usage: unmirrorvg VolumeGroup PhysicalVolume...', 2)
        vgid = self.need_on(args[0])
        disks = [self.need_disk(d) for d in args[1:]]
        g = self.f.vgda(vgid)
        for lv, info in g['lvs'].items():
            left = [c for c in info['copies'] if c not in disks]
            if not left:
                raise fr.CommandError('0516-1147 unmirrorvg: Logical volume %s would lose its last copy.' % lv)
        lock = self.f.vg_lock(vgid)
        try:
            for lv, info in g['lvs'].items():
                for d in disks:
                    if d in info['copies']:
                        info['copies'].remove(d)
                        shutil.rmtree(self.f.lv_dir(d, lv), ignore_errors=True)
            self.f.publish_copies(vgid)
        finally:
            lock.close()
        self.changes = True
        self.err = '0516-1246 rmlvcopy: If hd5 is the boot logical volume, please run \'chpv -c <diskname>\'\n\tas root user to clear the boot record and avoid a potential boot\n\toff an old boot image that may reside on the disk from which this\n\tlogical volume is moved/removed.\n0516-1132 unmirrorvg: Quorum requirement turned on, reboot system for this\n\tto take effect for rootvg.\n0516-1144 unmirrorvg: %s successfully unmirrored, user should perform\n\tbosboot of system to reinitialize boot records.  Then, user must modify\n\tbootlist to just include:  %s.\n' % (args[0], ' '.join(c for c in self.f.vg_disks(vgid) if c not in disks))
        return ''

    def c_reducevg(self, args):
        if len(args) < 2:
            raise fr.CommandError('Usage: reducevg [-d] VolumeGroup PhysicalVolume...', 2)
        vgid = self.need_on(args[0])
        for d in (self.need_disk(x) for x in args[1:]):
            if self.f.disk(d).get('vgid') != vgid:
                raise fr.CommandError('0516-304 getlvodm: Unable to find device id %s in the Device\n\tConfiguration Database.' % d)
            if self.used_pps(vgid, d):
                raise fr.CommandError('0516-016 ldeletepv: Cannot delete physical volume with allocated\n\tpartitions. Use either migratepv to move the partitions or\n\treducevg with the -d option to delete the partitions.')
            self.f.disk(d)['vgid'] = None
            self.f.wipe_disk(d)
        self.changes = True
        return ''

    def c_chpv(self, args):
        if len(args) != 2 or args[0] != '-C':
            raise fr.CommandError('Usage: chpv -C PhysicalVolume', 2)
        d = self.need_disk(args[1])
        vgid = self.f.disk(d).get('vgid')
        if vgid:
            if self.vg_name_of(vgid) is not None:
                raise fr.CommandError('0516-1396 chpv: The physical volume %s, will not be cleared because it belongs\n\tto volume group %s.' % (d, self.vg_name_of(vgid)))
            if any(l.get('os') and vgid in l['os']['varied_on'] for l in self.f.state['lpars'].values()):
                raise fr.CommandError('0516-1397 chpv: The physical volume %s, will not be cleared because its volume\n\tgroup is varied on in another partition.' % d)
            self.f.disk(d)['vgid'] = None
            if not self.f.vg_disks(vgid):
                self.f.state['vgda'].pop(vgid, None)
                self.f.publish_copies(vgid)
            else:
                for info in self.f.vgda(vgid)['lvs'].values():
                    info['copies'] = [c for c in info['copies'] if c != d]
        self.f.wipe_disk(d)
        self.changes = True
        return ''

    def reserved_elsewhere(self, vgid):
        return any(n != self.name and l.get('os') and vgid in l['os']['varied_on'] for n, l in self.f.state['lpars'].items())

    def vary_on(self, vgid, name):
        disks = self.f.vg_disks(vgid)
        if self.reserved_elsewhere(vgid):
            raise fr.CommandError('0516-1775 varyonvg: Physical volumes %s have a reservation conflict: volume group %s\n\tis varied on in another partition.' % (' '.join(disks), name))
        if not set(disks) <= set(self.disks()):
            raise fr.CommandError('0516-052 varyonvg: Volume group cannot be varied on without a\n\tquorum. More physical volumes in the group must be active.')
        self.os['varied_on'].append(vgid)
        self.changes = True

    def c_importvg(self, args):
        if len(args) != 3 or args[0] != '-y':
            raise fr.CommandError('Usage: importvg -y VolumeGroup PhysicalVolume', 2)
        name, d = args[1], self.need_disk(args[2])
        vgid = self.f.disk(d).get('vgid')
        if not vgid or self.f.vgda(vgid) is None:
            raise fr.CommandError('0516-1140 importvg: Unable to read the volume group descriptor area on %s.' % d)
        odm = self.odm()
        if vgid in odm['vgs'].values():
            raise fr.CommandError('0516-776 importvg: Cannot import %s as %s: the volume group is already imported as %s.' % (d, name, self.vg_name_of(vgid, odm)))
        if name in odm['vgs']:
            raise fr.CommandError('0516-360 getlvodm: The device name is already used; choose a\n\tdifferent name.')
        odm['vgs'][name] = vgid
        self.save_odm(odm)
        known = {lv for v in odm['vgs'].values() if v != vgid and self.f.vgda(v) for lv in self.f.vgda(v)['lvs']}
        renamed = [lv for lv in self.f.vgda(vgid)['lvs'] if lv in known]
        self.err = ''.join('0516-530 synclvodm: Logical volume name %s changed to fslv%02d.\n' % (lv, i) for i, lv in enumerate(renamed))
        self.vary_on(vgid, name)
        return name + '\n'

    def c_exportvg(self, args):
        if len(args) != 1:
            raise fr.CommandError('Usage: exportvg VolumeGroup', 2)
        vgid = self.vgid_of(args[0])
        if self.varied_on(vgid):
            raise fr.CommandError('0516-764 exportvg: The volume group must be varied off before exporting.')
        odm = self.odm()
        del odm['vgs'][args[0]]
        self.save_odm(odm)
        return ''

    def c_varyonvg(self, args):
        if len(args) != 1:
            raise fr.CommandError('Usage: varyonvg VolumeGroup', 2)
        vgid = self.vgid_of(args[0])
        if not self.varied_on(vgid):
            self.vary_on(vgid, args[0])
        return ''

    def c_varyoffvg(self, args):
        if len(args) != 1:
            raise fr.CommandError('Usage: varyoffvg VolumeGroup', 2)
        vgid = self.vgid_of(args[0])
        if vgid == self.os['boot_vgid']:
            raise fr.CommandError('0516-1118 varyoffvg: The root volume group cannot be varied off.')
        if any(v == vgid for v, _ in self.os['mounts'].values()):
            raise fr.CommandError('0516-012 lvaryoffvg: Logical volume must be closed.  If the logical\n\tvolume contains a filesystem, the umount command will close\n\tthe LV device.\n0516-942 varyoffvg: Unable to vary off volume group %s.' % args[0])
        if vgid in self.os['varied_on']:
            self.os['varied_on'].remove(vgid)
            self.changes = True
        return ''

    def c_mount(self, args):
        if not args:
            out = ['  node       mounted        mounted over    vfs       date        options      ',
                   '-------- ---------------  ---------------  ------ ------------ --------------- ']
            when = time.strftime('%b %d %H:%M')
            for mp, (vgid, lv) in sorted(self.os['mounts'].items(), key=lambda kv: len(kv[0])):
                out.append('         %-16s %-16s %-6s %s rw,log=INLINE ' % ('/dev/' + lv, mp, 'jfs2', when))
            return '\n'.join(out) + '\n'
        if len(args) != 1:
            raise fr.CommandError('Usage: mount [MountPoint]', 2)
        mp = args[0]
        if mp in self.os['mounts']:
            raise fr.CommandError('mount: 0506-324 Cannot mount %s on %s: The requested resource is busy.' % ('/dev/' + self.os['mounts'][mp][1], mp))
        for vgid in self.os['varied_on']:
            for lv, info in self.f.vgda(vgid)['lvs'].items():
                if info.get('mount') == mp:
                    self.os['mounts'][mp] = [vgid, lv]
                    self.changes = True
                    return ''
        raise fr.CommandError('mount: 0506-334 %s is not a known file system.' % mp)

    def c_umount(self, args):
        if len(args) != 1:
            raise fr.CommandError('Usage: umount MountPoint', 2)
        mp = args[0]
        if mp not in self.os['mounts']:
            raise fr.CommandError('umount: 0506-347 Cannot find anything to unmount.')
        if mp in self.os['apps'] and fr.alive(self.os['apps'][mp]):
            raise fr.CommandError('umount: 0506-349 Cannot unmount /dev/%s: The requested resource is busy.' % self.os['mounts'][mp][1])
        del self.os['mounts'][mp]
        self.changes = True
        return ''

    def c_cfgmgr(self, args):
        if args:
            raise fr.CommandError('Usage: cfgmgr', 2)
        new = self.f.mapped_disks(self.l['id'])
        if sorted(new) != sorted(self.os['disks']):
            self.os['disks'] = new
            self.changes = True
        return ''

    # ------------------------------------------------------------------ the alternate disk

    def c_alt_disk_copy(self, args):
        targets, bootlist = None, True
        i = 0
        while i < len(args):
            if args[i] == '-d' and i + 1 < len(args):
                targets = args[i + 1].split()
                i += 2
            elif args[i] == '-B':
                bootlist = False
                i += 1
            else:
                raise fr.CommandError('alt_disk_copy: 0505-105 Invalid flag %s.' % args[i], 2)
        if not targets:
            raise fr.CommandError('Usage: alt_disk_copy -d "disks" [-B]', 2)
        odm = self.odm()
        if 'altinst_rootvg' in odm['vgs']:
            raise fr.CommandError('0505-102 alt_disk_copy: An altinst_rootvg volume group already exists.')
        disks = self.free_disks(targets, 'alt_disk_copy')
        src = self.os['boot_vgid']
        g = self.f.vgda(src)
        needed = sum(i['lps'] for i in g['lvs'].values())
        if needed > sum(self.f.disk(d)['size_mb'] // fr.PP_MB - 1 for d in disks):
            raise fr.CommandError('Checking disk sizes.\n0505-108 alt_disk_copy: The target disks are too small: %d megabytes are needed.' % (needed * fr.PP_MB))
        mirrored = len(disks) > 1 and len(disks) == max(len(i['copies']) for i in g['lvs'].values())
        vgid = '00f6f42a0000' + os.urandom(10).hex()
        lvs = {}
        for lv, info in g['lvs'].items():
            copies = list(disks) if mirrored else [disks[0]]
            for d in copies:
                self.f.copy_lv(info['copies'][0], d, lv)
            lvs[lv] = dict(info, copies=copies)
        self.f.state['vgda'][vgid] = {'kind': 'root', 'lvs': lvs, 'quorum': True}
        for d in disks:
            self.f.disk(d)['vgid'] = vgid
        self.f.publish_copies(vgid)
        odm = self.odm()
        odm['vgs']['altinst_rootvg'] = vgid
        if bootlist:
            odm['bootlist'] = list(disks)
        self.save_odm(odm)
        out = ['Calling mkszfile to create new /image.data file.', 'Checking disk sizes.',
               'Creating cloned rootvg volume group and associated logical volumes.']
        out += ['Creating logical volume alt_%s.' % lv for lv in g['lvs']]
        out += ['Generating a list of files', 'for backup and restore into the alternate file system...',
                'Backing-up the rootvg files and restoring them to the', 'alternate file system...', 'Modifying ODM on cloned disk.',
                'Building boot image on cloned disk.', 'Changing logical volume names in volume group descriptor area.',
                'Fixing LV control blocks...', 'Fixing file system superblocks...']
        if bootlist:
            out.append('Bootlist is set to the boot disk: %s blv=hd5' % disks[0])
        return '\n'.join(out) + '\n'

    def alt_vgid(self, disk, names=('altinst_rootvg',)):
        d = self.need_disk(disk)
        vgid = self.f.disk(d).get('vgid')
        name = self.vg_name_of(vgid) if vgid else None
        if name not in names:
            raise fr.CommandError('0505-126 alt_rootvg_op: %s is not an alternate install rootvg.' % d)
        return vgid, name

    def wake(self, vgid):
        if self.os.get('awake') == vgid:
            return
        if self.os.get('awake'):
            raise fr.CommandError('0505-267 alt_rootvg_op: Another alternate volume group is already awake.')
        clone, running = self.f.odm(vgid), self.f.odm(self.os['boot_vgid'])
        if level_key(clone['filesets']['bos.rte']) > level_key(running['filesets']['bos.rte']) and self.env.get('FORCE') != 'yes':
            raise fr.CommandError('0505-273 alt_rootvg_op: The alternate disk is at a higher level (%s) than the running system (%s);\n\tset FORCE=yes to wake it up anyway.'
                                  % (fr.oslevel_of(clone), fr.oslevel_of(running)))
        self.vary_on(vgid, 'altinst_rootvg')
        for lv, info in self.f.vgda(vgid)['lvs'].items():
            mp = info.get('mount', 'N/A')
            if mp.startswith('/'):
                self.os['mounts'][ALT + ('' if mp == '/' else mp)] = [vgid, lv]
        self.os['awake'] = vgid

    def sleep(self):
        vgid = self.os.get('awake')
        if not vgid:
            return
        for mp in [m for m in self.os['mounts'] if m == ALT or m.startswith(ALT + '/')]:
            del self.os['mounts'][mp]
        self.os['varied_on'].remove(vgid)
        self.os['awake'] = None

    def c_alt_rootvg_op(self, args):
        if not args:
            raise fr.CommandError('Usage: alt_rootvg_op -W | -S | -X | -C | -v ...', 2)
        op, rest = args[0], args[1:]
        opts, pos, i = {}, [], 0
        while i < len(rest):
            if rest[i] in ('-d', '-b', '-w', '-l', '-I') and i + 1 < len(rest):
                opts[rest[i]] = rest[i + 1]
                i += 2
            elif rest[i].startswith('-'):
                raise fr.CommandError('alt_rootvg_op: 0505-105 Invalid flag %s.' % rest[i], 2)
            else:
                pos.append(rest[i])
                i += 1
        self.changes = True
        if op == '-W':
            vgid, _ = self.alt_vgid(opts.get('-d', ''))
            self.wake(vgid)
            return 'Waking up altinst_rootvg volume group ...\n'
        if op == '-S':
            if opts.get('-d'):
                self.alt_vgid(opts['-d'])
            self.sleep()
            return 'Putting volume group altinst_rootvg to sleep ...\nforced unmount of /alt_inst\n'
        if op == '-X':
            name = pos[0] if pos else 'altinst_rootvg'
            odm = self.odm()
            vgid = odm['vgs'].get(name)
            if vgid is None or name not in ('altinst_rootvg', 'old_rootvg') and not name.startswith('old_rootvg'):
                raise fr.CommandError('0505-126 alt_rootvg_op: %s is not an alternate rootvg.' % name)
            if self.os.get('awake') == vgid:
                raise fr.CommandError('0505-268 alt_rootvg_op: %s is awake; put it to sleep first (-S).' % name)
            del odm['vgs'][name]
            self.save_odm(odm)
            return 'Bootlist is set to the boot disk: %s blv=hd5\n' % self.f.lv_copies(self.os['boot_vgid'], 'hd5')[0]
        if op == '-v':
            new = pos[0] if pos else None
            vgid, old = self.alt_vgid(opts.get('-d', ''), names=('altinst_rootvg', 'old_rootvg'))
            odm = self.odm()
            if not new or new in odm['vgs']:
                raise fr.CommandError('0505-130 alt_rootvg_op: The name %s is not valid or already in use.' % new)
            if self.varied_on(vgid):
                raise fr.CommandError('0505-268 alt_rootvg_op: %s is awake; put it to sleep first (-S).' % old)
            del odm['vgs'][old]
            odm['vgs'][new] = vgid
            self.save_odm(odm)
            return ''
        if op == '-C':
            return self.customize(opts, pos)
        raise fr.CommandError('alt_rootvg_op: 0505-105 Invalid flag %s.' % op, 2)

    def customize(self, opts, pos):
        if not pos or '-l' not in opts or '-w' not in opts:
            raise fr.CommandError('Usage: alt_rootvg_op -C -w "filesets" -l images_location target_disks', 2)
        vgid, _ = self.alt_vgid(pos[0])
        images = {}
        folder = self.host_path(opts['-l'])
        for entry in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            with open(os.path.join(folder, entry), 'rb') as f:
                head = f.read(4096).decode('utf-8', 'replace').splitlines()
            meta = dict(line.split('=', 1) for line in head if '=' in line)
            if 'name' in meta and 'version' in meta:
                images[meta['name']] = meta['version']
        was_awake = self.os.get('awake') == vgid
        self.wake(vgid)
        odm = self.f.odm(vgid)
        rows = []
        for name in opts['-w'].split():
            if name not in images:
                self.sleep() if not was_awake else None
                raise fr.CommandError('0503-001 installp: The specified fileset %s was not found on the media %s.' % (name, opts['-l']))
            rows.append((name, images[name]))
            odm['filesets'][name] = images[name]
        self.f.write_odm(vgid, odm)
        if not was_awake:
            self.sleep()
        out = ['+-----------------------------------------------------------------------------+', '                         Installation Summary',
               '--------------------------------------------------------------------------------',
               'Name                        Level           Part        Event       Result',
               '-------------------------------------------------------------------------------']
        out += ['%-28s%-16s%-12s%-12s%s' % (n, v, 'USR', 'APPLY', 'SUCCESS') for n, v in rows]
        return '\n'.join(out) + '\n'

    def c_chroot(self, args):
        if len(args) < 2 or args[0] != ALT:
            raise fr.CommandError('chroot: only %s is known here' % ALT, 2)
        vgid = self.os.get('awake')
        if not vgid:
            raise fr.CommandError('chroot: /alt_inst: A file or directory in the path name does not exist.')
        inner = Aix(self.f, self.name, chroot=vgid, env=self.env)
        out = inner.run(args[1:])
        if out is None:
            raise fr.CommandError('chroot: %s: A file or directory in the path name does not exist.' % args[1], 127)
        self.changes = self.changes or inner.changes
        self.err = inner.err
        return out

    # ------------------------------------------------------------------ levels and packages

    def c_oslevel(self, args):
        if args != ['-s']:
            raise fr.CommandError('Usage: oslevel -s', 2)
        return fr.oslevel_of(self.odm()) + '\n'

    def c_lslpp(self, args):
        if not args or args[0] != '-Lc':
            raise fr.CommandError('Usage: lslpp -Lc [fileset...]', 2)
        sets = self.odm()['filesets']
        names = args[1:] or sorted(sets)
        out = ['#Package Name:Fileset:Level:State:PTF Id:Fix State:Type:Description:Destination Dir.:Uninstaller:Message Catalog:Message Set:Message Number:Parent:Automatic:EFIX Locked:Install Path:Build Date']
        for n in names:
            if n not in sets:
                raise fr.CommandError('lslpp: 0504-132  Fileset %s not installed.' % n)
            pkg = n.split('.')[0]
            out.append('%s:%s:%s: : :C: :%s : : : : : : :0:0:/:%s' % (pkg, n, sets[n], n + ' fileset', self.odm().get('build', '2346')))
        return '\n'.join(out) + '\n'

    def c_emgr(self, args):
        if args != ['-l']:
            raise fr.CommandError('Usage: emgr -l', 2)
        return 'There is no efix data on this system.\n'

    def c_hostname(self, args):
        if args:
            raise fr.CommandError('Usage: hostname', 2)
        return self.odm()['hostname'] + '\n'

    def c_chdev(self, args):
        if len(args) < 4 or args[0] != '-l':
            raise fr.CommandError('Usage: chdev -l Name -a Attribute=Value ... [-P]', 2)
        dev, attrs, permanent, i = args[1], {}, bool(self.chroot), 2
        while i < len(args):
            if args[i] == '-a' and i + 1 < len(args) and '=' in args[i + 1]:
                k, v = args[i + 1].split('=', 1)
                attrs[k] = v
                i += 2
            elif args[i] == '-P':
                permanent = True
                i += 1
            else:
                raise fr.CommandError('chdev: 0514-050 Cannot perform the requested function because the\n\tspecified attribute %s is not valid.' % args[i], 2)
        odm = self.odm()
        if dev == 'inet0' and list(attrs) == ['hostname']:
            odm['hostname'] = attrs['hostname']
        elif dev == 'en0':
            self.chdev_en0(odm, attrs, permanent)
        else:
            raise fr.CommandError('chdev: 0514-519 The following device was not found in the customized\n\tdevice configuration database:\n\t%s' % dev)
        self.save_odm(odm)
        return '%s changed\n' % dev

    def chdev_en0(self, odm, attrs, permanent):
        en0 = odm['en0']
        live = not permanent and not self.chroot
        if set(attrs) == {'netaddr', 'netmask'}:
            old = (en0['netaddr'], en0['netmask'])
            en0['netaddr'], en0['netmask'] = attrs['netaddr'], attrs['netmask']
            en0['aliases'] = [a for a in en0.get('aliases', []) if a[0] != attrs['netaddr']]
            if live:
                partition.delete_address(self.f, self.l, *old)
                partition.add_address(self.f, self.l, attrs['netaddr'], attrs['netmask'])
        elif set(attrs) in ({'alias4'}, {'delalias4'}):
            key = next(iter(attrs))
            addr, _, mask = attrs[key].partition(',')
            if not mask:
                raise fr.CommandError('chdev: 0514-018 The values specified for the following attributes are not valid:\n\t%s' % key)
            aliases = [a for a in en0.get('aliases', []) if a[0] != addr]
            if key == 'alias4':
                aliases.append([addr, mask])
                if live:
                    partition.add_address(self.f, self.l, addr, mask)
            elif live:
                partition.delete_address(self.f, self.l, addr, mask)
            en0['aliases'] = aliases
        else:
            raise fr.CommandError('chdev: 0514-018 The values specified for the following attributes are not valid:\n\t%s' % ','.join(attrs))

    # ------------------------------------------------------------------ files

    def c_mkdir(self, args):
        if len(args) != 2 or args[0] != '-p':
            raise fr.CommandError('Usage: mkdir -p Directory', 2)
        vgid, lv, rel = self.resolve(args[1])
        for d in self.f.lv_copies(vgid, lv):
            os.makedirs(fr.safe_join(self.f.lv_dir(d, lv), rel), exist_ok=True)
        self.changes = True
        return ''

    def c_rm(self, args):
        import shutil
        if len(args) != 2 or args[0] not in ('-r', '-rf'):
            raise fr.CommandError('Usage: rm -r Directory', 2)
        vgid, lv, rel = self.resolve(args[1])
        if not rel:
            raise fr.CommandError('rm: 0653-609 Cannot remove the root of a file system.')
        for d in self.f.lv_copies(vgid, lv):
            p = fr.safe_join(self.f.lv_dir(d, lv), rel)
            shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else (os.path.exists(p) and os.remove(p))
        self.changes = True
        return ''

    def c_dd(self, args):
        target = [a[3:] for a in args if a.startswith('of=')]
        if len(target) != 1 or any(not (a.startswith('of=') or a.startswith('bs=')) for a in args):
            raise fr.CommandError('Usage: dd of=File [bs=Size]', 2)
        data = self.stdin or b''
        self.write_file(target[0], data)
        blocks = (len(data) + 511) // 512
        self.err = '%d+0 records in.\n%d+0 records out.\n' % (blocks, blocks)
        return ''

    def read(self, path):
        try:
            with open(self.host_path(path), 'rb') as f:
                return f.read()
        except (FileNotFoundError, IsADirectoryError):
            raise fr.CommandError('%s: A file or directory in the path name does not exist.' % path, 2)

    def c_openssl(self, args):
        if len(args) != 3 or args[:2] != ['dgst', '-sha256']:
            raise fr.CommandError('Usage: openssl dgst -sha256 File', 1)
        import hashlib
        return 'SHA2-256(%s)= %s\n' % (args[2], hashlib.sha256(self.read(args[2])).hexdigest())

    def c_wc(self, args):
        if len(args) != 2 or args[0] != '-l':
            raise fr.CommandError('Usage: wc -l File', 2)
        return '%8d %s\n' % (self.read(args[1]).count(b'\n'), args[1])

    def c_head(self, args):
        if len(args) != 3 or args[0] != '-c' or not args[1].isdigit():
            raise fr.CommandError('Usage: head -c Bytes File', 2)
        self.binary = self.read(args[2])[:int(args[1])]
        return ''

    # ------------------------------------------------------------------ the sample application

    def c_recordd_ctl(self, args):
        if len(args) == 4 and args[0] == 'start':
            return self.recordd_start(*args[1:])
        if len(args) == 2 and args[0] == 'stop':
            pid = self.os['apps'].pop(args[1], None)
            fr.stop_pid(pid)
            self.changes = True
            return ''
        if len(args) == 3 and args[0] == 'health':
            ok, reply = partition.in_namespace(self.f.state['slots'][self.l['slot']]['ns'], ping, args[1], int(args[2]))
            if not ok:
                raise fr.CommandError('recordd-ctl: no answer from %s:%s (%s)' % (args[1], args[2], reply))
            if not reply.startswith('PONG'):
                raise fr.CommandError('recordd-ctl: unexpected answer %r' % reply)
            return reply
        raise fr.CommandError('Usage: recordd-ctl start MountPoint Address Port | stop MountPoint | health Address Port', 2)

    def recordd_start(self, mp, address, port):
        if mp not in self.os['mounts']:
            raise fr.CommandError('recordd-ctl: %s is not mounted.' % mp)
        if mp in self.os['apps'] and fr.alive(self.os['apps'][mp]):
            return 'recordd already runs\n'
        vgid, lv = self.os['mounts'][mp]
        here = os.path.dirname(os.path.abspath(__file__))
        ns = self.f.state['slots'][self.l['slot']]['ns']
        pid = fr.spawn(fr.netns_cmd(ns, '/usr/bin/python3', '-S', '-E', os.path.join(here, 'recordd.py'), self.f.root, vgid, lv, address, port),
                       self.f.path('run', 'recordd-%s.log' % self.name))
        self.os['apps'][mp] = pid
        self.changes = True
        import socket
        deadline = time.time() + 5
        ready = self.f.path('run', 'recordd-%s.ready' % vgid)
        while time.time() < deadline:
            if not fr.alive(pid):
                raise fr.CommandError('recordd-ctl: recordd exited at once (is %s configured on en0?)' % address)
            if os.path.exists(ready):
                with open(ready) as fh:
                    if fh.read().strip() == str(pid):
                        return 'recordd started\n'
            time.sleep(0.005)
        raise fr.CommandError('recordd-ctl: recordd did not start listening on %s:%s' % (address, port))
