# The HMC command line of the emulated frame: lssyscfg, lshwres, mksyscfg, chsyscfg, chsysstate, rmsyscfg, chhwres,
# viosvrcmd. Output in the documented forms: comma-separated key=value pairs (a value with a comma is quoted), only
# the values with -F, and "No results were found." for an empty answer.
import shlex
import os

import frame as fr
import partition
import vios

NO_RESULTS = 'No results were found.'


def split_attrs(text):
    """Splits an HMC attribute list at the commas outside double quotes ("" stands for a quote inside them)."""
    out, cur, quoted, i = [], '', False, 0
    while i < len(text):
        c = text[i]
        if c == '"':
            if quoted and i + 1 < len(text) and text[i + 1] == '"':
                cur += '"'
                i += 1
            else:
                quoted = not quoted
        elif c == ',' and not quoted:
            out.append(cur)
            cur = ''
        else:
            cur += c
        i += 1
    if quoted:
        raise fr.CommandError('HSCL350B The input attribute string is not valid: a quote is not closed.')
    out.append(cur)
    return out


def parse_attrs(text):
    attrs = {}
    for item in split_attrs(text):
        if '=' not in item:
            raise fr.CommandError('HSCL350B The input attribute %s is not valid.' % item)
        k, v = item.split('=', 1)
        attrs[k.strip()] = v
    return attrs


def quote(v):
    return '"%s"' % v.replace('"', '""') if ',' in v or '"' in v else v


def show(rows, fields):
    if not rows:
        return NO_RESULTS + '\n'
    lines = []
    for r in rows:
        if fields:
            missing = [k for k in fields if k not in r]
            if missing:
                raise fr.CommandError('HSCL8018 The attribute %s is not valid for this resource.' % missing[0])
            lines.append(','.join(quote(str(r[k])) for k in fields))
        else:
            lines.append(','.join(quote('%s=%s' % (k, v)) for k, v in r.items()))
    return '\n'.join(lines) + '\n'


class Options:
    """-x value options of an HMC command; unknown options fail."""

    def __init__(self, argv, allowed, flags=()):
        self.values, self.flags, i = {}, set(), 0
        while i < len(argv):
            a = argv[i]
            if a in flags:
                self.flags.add(a)
                i += 1
            elif a in allowed and i + 1 < len(argv):
                self.values[a] = argv[i + 1]
                i += 2
            else:
                raise fr.CommandError('HSCL8017 The command option %s is not valid.' % a)

    def get(self, k, default=None):
        return self.values.get(k, default)

    def need(self, k):
        if k not in self.values:
            raise fr.CommandError('HSCL8016 The required option %s is missing.' % k)
        return self.values[k]


def fields_of(o):
    f = o.get('-F')
    return None if f is None else [x.strip() for x in f.split(',')]


def filter_names(o):
    flt = o.get('--filter')
    if flt is None:
        return None
    k, _, v = flt.partition('=')
    if k != 'lpar_names':
        raise fr.CommandError('HSCL8019 The filter %s is not valid.' % k)
    return split_attrs(v.strip('"'))


class Hmc:
    def __init__(self, f):
        self.f = f
        self.changes = False

    def system(self, o):
        name = o.need('-m')
        if name != self.f.state['system']['name']:
            raise fr.CommandError('HSCL8012 The managed system %s was not found.' % name)
        return self.f.state['system']

    def run(self, argv):
        cmd, args = argv[0], argv[1:]
        handler = {
            'lssyscfg': self.lssyscfg, 'lshwres': self.lshwres, 'mksyscfg': self.mksyscfg, 'chsyscfg': self.chsyscfg,
            'chsysstate': self.chsysstate, 'rmsyscfg': self.rmsyscfg, 'chhwres': self.chhwres, 'viosvrcmd': self.viosvrcmd,
        }.get(cmd)
        if handler is None:
            return None
        return handler(args)

    # ------------------------------------------------------------------ listing

    def lpar_rows(self, names):
        rows = []
        for name, l in sorted(self.f.state['lpars'].items(), key=lambda kv: kv[1]['id']):
            if names is not None and name not in names:
                continue
            running = l['state'] == 'Running'
            os_version, ip = 'Unknown', ''
            if running and l['env'] == 'aixlinux':
                odm = self.f.odm(l['os']['boot_vgid'])
                os_version = 'AIX %s %s' % ('.'.join(odm['filesets']['bos.rte'].split('.')[:2]), fr.oslevel_of(odm))
                ip = odm['en0']['netaddr']
            elif running:
                os_version, ip = 'VIOS 4.1.0.10', self.f.state['vios'].get('address', '')
            rows.append({'name': name, 'lpar_id': l['id'], 'lpar_env': l['env'], 'state': l['state'], 'resource_config': 1,
                         'os_version': os_version, 'logical_serial_num': self.f.state['system']['serial'] + str(l['id']),
                         'default_profile': l['curr_profile'], 'curr_profile': l['curr_profile'], 'boot_mode': 'norm',
                         'lpar_keylock': 'norm', 'auto_start': 0, 'rmc_state': 'active' if running else 'inactive', 'rmc_ipaddr': ip,
                         'uuid': l['uuid']})
        return rows

    def lssyscfg(self, args):
        o = Options(args, ('-r', '-m', '-F', '--filter'))
        r = o.need('-r')
        if r == 'sys':
            s = self.f.state['system']
            if '-m' in o.values:
                self.system(o)
            return show([{'name': s['name'], 'type_model': s['type_model'], 'serial_num': s['serial'], 'state': 'Operating',
                          'ipaddr': '10.0.0.1'}], fields_of(o))
        self.system(o)
        names = filter_names(o)
        if r == 'lpar':
            return show(self.lpar_rows(names), fields_of(o))
        if r == 'prof':
            rows = []
            for name, l in sorted(self.f.state['lpars'].items(), key=lambda kv: kv[1]['id']):
                if names is not None and name not in names:
                    continue
                row = {'name': l['curr_profile'], 'lpar_name': name, 'lpar_id': l['id'], 'lpar_env': l['env']}
                row.update({k: v for k, v in l['profile'].items() if k not in ('name', 'profile_name', 'lpar_env')})
                rows.append(row)
            return show(rows, fields_of(o))
        raise fr.CommandError('HSCL8013 The resource type %s is not valid.' % r)

    def used(self):
        s = self.f.state
        procs = sum(l.get('proc_units', 0) for l in s['lpars'].values() if l['state'] == 'Running')
        mem = sum(l.get('mem', 0) for l in s['lpars'].values() if l['state'] == 'Running')
        return procs, mem

    def lshwres(self, args):
        o = Options(args, ('-r', '-m', '--level', '-F', '--filter', '--rsubtype'))
        s = self.system(o)
        r, level = o.need('-r'), o.need('--level')
        names = filter_names(o)
        procs, mem = self.used()
        rows = []
        if r == 'proc' and level == 'sys':
            avail = round(s['proc_units'] - procs, 2)
            rows = [{'configurable_sys_proc_units': s['proc_units'], 'curr_avail_sys_proc_units': avail, 'pend_avail_sys_proc_units': avail,
                     'installed_sys_proc_units': s['proc_units'], 'deconfig_sys_proc_units': 0, 'min_proc_units_per_virtual_proc': 0.05,
                     'max_virtual_procs_per_lpar': 240, 'max_procs_per_lpar': 240, 'max_shared_proc_pools': 64}]
        elif r == 'mem' and level == 'sys':
            avail = s['mem'] - s['firmware_mem'] - mem
            rows = [{'configurable_sys_mem': s['mem'], 'curr_avail_sys_mem': avail, 'pend_avail_sys_mem': avail, 'installed_sys_mem': s['mem'],
                     'deconfig_sys_mem': 0, 'sys_firmware_mem': s['firmware_mem'], 'mem_region_size': 256,
                     'possible_hpt_ratios': '1:32,1:64,1:128,1:256,1:512'}]
        elif r in ('proc', 'mem') and level == 'lpar':
            for name, l in sorted(s and self.f.state['lpars'].items(), key=lambda kv: kv[1]['id']):
                if names is not None and name not in names:
                    continue
                p, on = l['profile'], l['state'] == 'Running'
                if r == 'proc':
                    rows.append({'lpar_name': name, 'lpar_id': l['id'], 'curr_shared_proc_pool_id': 0, 'curr_proc_mode': p.get('proc_mode', 'shared'),
                                 'curr_min_proc_units': p.get('min_proc_units', 0.1) if on else 0.0, 'curr_proc_units': l.get('proc_units', 0.0) if on else 0.0,
                                 'curr_max_proc_units': p.get('max_proc_units', 1.0) if on else 0.0, 'curr_min_procs': p.get('min_procs', 1) if on else 0,
                                 'curr_procs': l.get('procs', 0) if on else 0, 'curr_max_procs': p.get('max_procs', 1) if on else 0,
                                 'curr_sharing_mode': p.get('sharing_mode', 'uncap'), 'curr_uncap_weight': p.get('uncap_weight', 128)})
                else:
                    rows.append({'lpar_name': name, 'lpar_id': l['id'], 'curr_min_mem': p.get('min_mem', 0) if on else 0, 'curr_mem': l.get('mem', 0) if on else 0,
                                 'curr_max_mem': p.get('max_mem', 0) if on else 0, 'mem_mode': 'ded', 'curr_hpt_ratio': '1:64'})
        elif r == 'virtualio' and o.get('--rsubtype') == 'scsi' and level == 'lpar':
            rows = self.scsi_rows(names)
        else:
            raise fr.CommandError('HSCL8013 The resource type %s at level %s is not valid.' % (r, level))
        return show(rows, fields_of(o))

    def scsi_rows(self, names):
        s, rows = self.f.state, []
        v = s['vios']
        vios_id = s['lpars'][v['name']]['id']
        for a in v['adapters']:
            rows.append({'lpar_name': v['name'], 'lpar_id': vios_id, 'slot_num': a['slot'], 'state': 1, 'is_required': 0, 'adapter_type': 'server',
                         'remote_lpar_id': a['remote_lpar_id'], 'remote_lpar_name': a['remote_lpar_name'], 'remote_slot_num': a['remote_slot']})
        for name, l in s['lpars'].items():
            for spec in split_attrs(l['profile'].get('virtual_scsi_adapters', 'none')):
                if spec == 'none':
                    continue
                slot, kind, rid, rname, rslot, req = spec.split('/')
                rows.append({'lpar_name': name, 'lpar_id': l['id'], 'slot_num': int(slot), 'state': 1 if l['state'] == 'Running' else 0,
                             'is_required': int(req), 'adapter_type': kind, 'remote_lpar_id': int(rid) if rid else vios_id,
                             'remote_lpar_name': rname, 'remote_slot_num': int(rslot)})
        rows = [r for r in rows if names is None or r['lpar_name'] in names]
        return sorted(rows, key=lambda r: (r['lpar_id'], r['slot_num']))

    # ------------------------------------------------------------------ changing

    def mksyscfg(self, args):
        o = Options(args, ('-r', '-m', '-i', '-o', '-p', '-n'), flags=('--force',))
        self.system(o)
        r = o.need('-r')
        self.changes = True
        if r == 'prof' and o.get('-o') == 'save':
            if o.need('-p') not in self.f.state['lpars']:
                raise fr.CommandError('HSCL8012 The partition %s was not found.' % o.get('-p'))
            return ''
        if r != 'lpar':
            raise fr.CommandError('HSCL8013 The resource type %s is not valid.' % r)
        attrs = parse_attrs(o.need('-i'))
        name = attrs.get('name')
        for k in ('name', 'profile_name', 'lpar_env', 'min_mem', 'desired_mem', 'max_mem', 'proc_mode'):
            if k not in attrs:
                raise fr.CommandError('HSCL3600 The required attribute %s is missing.' % k)
        if name in self.f.state['lpars']:
            raise fr.CommandError('HSCL3603 A partition with the name %s already exists on the managed system.' % name)
        if not (1 <= len(name) <= 47):
            raise fr.CommandError('HSCL3610 The partition name %s is not valid.' % name)
        lid = int(attrs.pop('lpar_id', self.f.state['next_lpar_id']))
        self.f.state['next_lpar_id'] = max(self.f.state['next_lpar_id'], lid + 1)
        profile = {k: v for k, v in attrs.items() if k not in ('name', 'profile_name', 'lpar_env')}
        self.f.state['lpars'][name] = {'id': lid, 'env': attrs['lpar_env'], 'state': 'Not Activated', 'curr_profile': attrs['profile_name'],
                                        'profile': profile, 'slot': None, 'os': None, 'uuid': os.urandom(16).hex().upper(),
                                        'proc_units': 0.0, 'procs': 0, 'mem': 0}
        return ''

    def named(self, o):
        name = o.need('-n')
        l = self.f.lpar(name)
        if l is None:
            raise fr.CommandError('HSCL8012 The partition %s was not found.' % name)
        return name, l

    def chsysstate(self, args):
        o = Options(args, ('-r', '-m', '-o', '-n', '-f', '-b'), flags=('--immed', '--restart'))
        self.system(o)
        name, l = self.named(o)
        op = o.need('-o')
        self.changes = True
        if op == 'on':
            if l['state'] != 'Not Activated':
                raise fr.CommandError('HSCL0DB4 The partition %s is %s; only a partition that is Not Activated can be activated.' % (name, l['state']))
            if o.need('-f') != l['curr_profile']:
                raise fr.CommandError('HSCL8012 The partition profile %s was not found.' % o.get('-f'))
            procs, mem = self.used()
            s = self.f.state['system']
            p = l['profile']
            if float(p.get('desired_proc_units', 0)) > s['proc_units'] - procs + 1e-9:
                raise fr.CommandError('HSCL1570 There are not enough processing units available to activate %s.' % name)
            if int(p.get('desired_mem', 0)) > s['mem'] - s['firmware_mem'] - mem:
                raise fr.CommandError('HSCL1572 There is not enough memory available to activate %s.' % name)
            partition.boot(self.f, name)
            return ''
        if op in ('shutdown', 'osshutdown'):
            if l['state'] == 'Not Activated':
                raise fr.CommandError('HSCL0DB3 The partition %s is not activated.' % name)
            partition.shutdown(self.f, name)
            return ''
        raise fr.CommandError('HSCL8017 The operation %s is not valid.' % op)

    def chsyscfg(self, args):
        o = Options(args, ('-r', '-m', '-i'))
        self.system(o)
        attrs = parse_attrs(o.need('-i'))
        name, new = attrs.get('name'), attrs.get('new_name')
        if o.need('-r') != 'lpar' or name is None or new is None or len(attrs) != 2:
            raise fr.CommandError('HSCL350B The attributes %s are not supported here.' % ','.join(attrs))
        lpars = self.f.state['lpars']
        if name not in lpars:
            raise fr.CommandError('HSCL8012 The partition %s was not found.' % name)
        if new in lpars:
            raise fr.CommandError('HSCL3603 A partition with the name %s already exists on the managed system.' % new)
        self.changes = True
        lpars[new] = lpars.pop(name)
        for a in self.f.state['vios']['adapters']:
            if a['remote_lpar_name'] == name:
                a['remote_lpar_name'] = new
        return ''

    def rmsyscfg(self, args):
        o = Options(args, ('-r', '-m', '-n'))
        self.system(o)
        name, l = self.named(o)
        if l['state'] != 'Not Activated':
            raise fr.CommandError('HSCL0DB1 The partition %s is %s; it must be Not Activated to be removed.' % (name, l['state']))
        self.changes = True
        del self.f.state['lpars'][name]
        return ''

    def chhwres(self, args):
        o = Options(args, ('-r', '-m', '-o', '-p', '--rsubtype', '-s', '-a'))
        self.system(o)
        v = self.f.state['vios']
        if o.need('-r') != 'virtualio' or o.need('--rsubtype') != 'scsi' or o.need('-p') != v['name']:
            raise fr.CommandError('HSCL8017 Only virtual SCSI server adapters of %s are supported here.' % v['name'])
        slot = int(o.need('-s'))
        existing = next((a for a in v['adapters'] if a['slot'] == slot), None)
        self.changes = True
        if o.need('-o') == 'a':
            if existing:
                raise fr.CommandError('HSCL294C The virtual slot %d of %s is already in use.' % (slot, v['name']))
            attrs = parse_attrs(o.need('-a'))
            if attrs.get('adapter_type') != 'server':
                raise fr.CommandError('HSCL350B Only adapter_type=server is supported here.')
            rname = attrs['remote_lpar_name']
            rl = self.f.lpar(rname)
            if rl is None:
                raise fr.CommandError('HSCL8012 The partition %s was not found.' % rname)
            v['adapters'].append({'slot': slot, 'remote_lpar_id': rl['id'], 'remote_lpar_name': rname,
                                  'remote_slot': int(attrs['remote_slot_num']), 'vhost': None})
            return ''
        if o.need('-o') == 'r':
            if existing is None:
                raise fr.CommandError('HSCL294D The virtual slot %d of %s holds no adapter.' % (slot, v['name']))
            if existing.get('vhost'):
                raise fr.CommandError('HSCL2957 The adapter in slot %d is in use by %s; remove the device on the VIOS first (rmdev).' % (slot, existing['vhost']))
            v['adapters'].remove(existing)
            return ''
        raise fr.CommandError('HSCL8017 The operation %s is not valid.' % o.get('-o'))

    def viosvrcmd(self, args):
        o = Options(args, ('-m', '-p', '-c'))
        self.system(o)
        if o.need('-p') != self.f.state['vios']['name']:
            raise fr.CommandError('HSCL8012 The partition %s was not found or is not a VIOS.' % o.get('-p'))
        try:
            argv = shlex.split(o.need('-c'))
        except ValueError as e:
            raise fr.CommandError('HSCL2970 The IOSCLI command could not be parsed: %s' % e)
        v = vios.Vios(self.f)
        out = v.run(argv)
        if out is None:
            return None
        self.changes = self.changes or v.changes
        return out
