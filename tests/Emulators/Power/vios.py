# The padmin commands of the emulated VIOS (run through the HMC's viosvrcmd or over the VIOS's own SSH): lspv,
# lsmap -all (in the layout of a real capture), mkvdev, rmvdev, rmdev -dev vhostN -recursive, cfgdev.
import frame as fr


class Vios:
    def __init__(self, f):
        self.f = f
        self.v = f.state['vios']
        self.changes = False

    def run(self, argv):
        if not argv:
            return None
        handler = {'lspv': self.lspv, 'lsmap': self.lsmap, 'mkvdev': self.mkvdev, 'rmvdev': self.rmvdev, 'rmdev': self.rmdev,
                   'cfgdev': self.cfgdev}.get(argv[0])
        return None if handler is None else handler(argv[1:])

    def lspv(self, args):
        if args:
            raise fr.CommandError('Invalid option: %s' % args[0], 2)
        lines = ['NAME             PVID                                 VG               STATUS']
        for name in sorted(self.f.state['disks'], key=fr.disk_order):
            lines.append('%-16s %-36s %-16s ' % (name, self.f.disk(name)['pvid'], 'None'))
        return '\n'.join(lines) + '\n'

    def physloc(self, slot):
        s = self.f.state['system']
        return 'U%s.%s-V%d-C%d' % (s['type_model'].replace('-', '.'), s['serial'], self.f.lpar(self.v['name'])['id'], slot)

    def lsmap(self, args):
        if args != ['-all']:
            raise fr.CommandError('Invalid option: %s' % ' '.join(args), 2)
        out = []
        for a in sorted((a for a in self.v['adapters'] if a.get('vhost')), key=lambda a: int(a['vhost'][5:])):
            client = a['remote_lpar_id']
            l = self.f.lpar(a['remote_lpar_name'])
            active = l is not None and l['state'] == 'Running'
            out.append('SVSA            Physloc                                      Client Partition ID')
            out.append('--------------- -------------------------------------------- ------------------')
            out.append('%-15s %-44s 0x%08x' % (a['vhost'], self.physloc(a['slot']), client if active else 0))
            vtds = sorted((t for t in self.v['vtds'] if t['vhost'] == a['vhost']), key=lambda t: t['lun'])
            if not vtds:
                out.append('')
                out.append('VTD                   NO VIRTUAL TARGET DEVICE FOUND')
            for t in vtds:
                out.append('')
                out.append('VTD                   %s' % t['name'])
                out.append('Status                Available')
                out.append('LUN                   0x%x00000000000000' % (0x80 + t['lun']))
                out.append('Backing device        %s' % t['disk'])
                out.append('Physloc               U78D3.001.WZS0AJN-P1-C7-T1-W500507680C11021F-L%d000000000000' % t['lun'])
                out.append('Mirrored              false')
            out.append('')
        return '\n'.join(out) + ('\n' if out else '')

    def opts(self, args, allowed):
        o, i = {}, 0
        while i < len(args):
            if args[i] in allowed and i + 1 < len(args):
                o[args[i]] = args[i + 1]
                i += 2
            elif args[i] == '-recursive' and '-recursive' in allowed:
                o['-recursive'] = True
                i += 1
            else:
                raise fr.CommandError('Invalid option or argument: %s' % args[i], 2)
        return o

    def mkvdev(self, args):
        o = self.opts(args, ('-vdev', '-vadapter', '-dev'))
        disk, host = o.get('-vdev'), o.get('-vadapter')
        if disk not in self.f.state['disks']:
            raise fr.CommandError('Some error messages may contain invalid information\nfor the Virtual I/O Server environment.\n\nmkvdev: %s is not a valid device.' % disk)
        if not any(a.get('vhost') == host for a in self.v['adapters']):
            raise fr.CommandError('mkvdev: %s is not a valid virtual SCSI server adapter.' % host)
        if any(t['vhost'] == host and t['disk'] == disk for t in self.v['vtds']):
            raise fr.CommandError('mkvdev: %s is already mapped to %s.' % (disk, host))
        name = o.get('-dev') or 'vtscsi%d' % self.v['next_vtd']
        if any(t['name'] == name for t in self.v['vtds']):
            raise fr.CommandError('mkvdev: the device name %s is already in use.' % name)
        if len(name) > 15:
            raise fr.CommandError('mkvdev: the device name %s is longer than 15 characters.' % name)
        self.v['next_vtd'] += 1
        luns = [t['lun'] for t in self.v['vtds'] if t['vhost'] == host]
        self.v['vtds'].append({'name': name, 'vhost': host, 'disk': disk, 'lun': max(luns, default=0) + 1})
        self.changes = True
        return '%s Available\n' % name

    def rmvdev(self, args):
        o = self.opts(args, ('-vtd',))
        t = next((t for t in self.v['vtds'] if t['name'] == o.get('-vtd')), None)
        if t is None:
            raise fr.CommandError('rmvdev: %s is not a valid virtual target device.' % o.get('-vtd'))
        self.v['vtds'].remove(t)
        self.changes = True
        return '%s deleted\n' % t['name']

    def rmdev(self, args):
        o = self.opts(args, ('-dev', '-recursive'))
        a = next((a for a in self.v['adapters'] if a.get('vhost') == o.get('-dev')), None)
        if a is None:
            raise fr.CommandError('rmdev: %s is not a valid device.' % o.get('-dev'))
        vtds = [t for t in self.v['vtds'] if t['vhost'] == a['vhost']]
        if vtds and not o.get('-recursive'):
            raise fr.CommandError('rmdev: %s has child devices; use -recursive.' % a['vhost'])
        out = ''.join('%s deleted\n' % t['name'] for t in vtds)
        for t in vtds:
            self.v['vtds'].remove(t)
        out += '%s deleted\n' % a['vhost']
        a['vhost'] = None
        self.changes = True
        return out

    def cfgdev(self, args):
        if args:
            raise fr.CommandError('Invalid option: %s' % args[0], 2)
        for a in sorted(self.v['adapters'], key=lambda a: a['slot']):
            if not a.get('vhost'):
                used = {int(x['vhost'][5:]) for x in self.v['adapters'] if x.get('vhost')}
                a['vhost'] = 'vhost%d' % next(n for n in range(1000) if n not in used)
                self.changes = True
        return ''
