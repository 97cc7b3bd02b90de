# One command against the frame: split as a POSIX shell splits it, run under the frame's lock, logged (with
# whether it can change the frame), with the injected faults applied. Called by the frame's server for each
# command that an endpoint's sshd receives.
import os
import shlex
import time

import frame as fr

READS = {
    'hmc': {'lssyscfg', 'lshwres'},
    'vios': {'lspv', 'lsmap'},
    'slot': {'lspv', 'getconf', 'getlvodm', 'lsvg', 'oslevel', 'lslpp', 'emgr', 'hostname', 'openssl', 'wc', 'head'},
}


def changing(role, argv):
    """Whether a command can change the frame (by its name and arguments alone, never by what it did)."""
    name = os.path.basename(argv[0]) if argv else ''
    if role == 'hmc' and name == 'viosvrcmd' and '-c' in argv[:-1]:
        try:
            inner = shlex.split(argv[argv.index('-c') + 1] or ' ')
        except ValueError:
            return True
        return changing('vios', inner or [''])
    if role == 'slot' and name == 'env':
        rest = [a for a in argv[1:] if '=' not in a]
        return changing('slot', argv[argv.index(rest[0]):]) if rest else False
    if role == 'slot' and name == 'chroot' and len(argv) > 2:
        return changing('slot', argv[2:])
    if role == 'slot' and name == 'mount' and len(argv) == 1:
        return False
    if role == 'slot' and name == 'recordd-ctl' and argv[1:2] == ['health']:
        return False
    return name not in READS[role]


def dispatch(f, role, endpoint, argv, stdin):
    if role == 'hmc':
        import hmc
        h = hmc.Hmc(f)
        return h.run(argv), '', h.changes
    if role == 'vios':
        import vios
        v = vios.Vios(f)
        return v.run(argv), '', v.changes
    import aix
    a = aix.Aix(f, endpoint, stdin=stdin)
    out = a.run(argv)
    if out is not None and a.binary is not None:
        out = a.binary
    return out, a.err, a.changes


def handle(root, role, slot, line, stdin):
    """Returns (stdout bytes, stderr text, exit code, drop the connection afterwards)."""
    started = time.time()
    try:
        argv = shlex.split(line)
    except ValueError as e:
        return b'', 'sh: syntax error: %s\n' % e, 2, False
    if not argv:
        return b'', 'This endpoint runs commands only.\n', 1, False
    f = fr.Frame(root)
    f.lock()
    try:
        endpoint = role
        if role == 'slot':
            endpoint, _ = f.lpar_of_slot(slot)
            if endpoint is None:
                return b'', '', 255, True
        fault = f.fault_for(endpoint, argv)
        if fault and fault['action'] == 'drop' and not fault.get('after'):
            f.log('commands.log', {'endpoint': endpoint, 'argv': argv, 'rc': None, 'fault': 'drop', 'change': changing(role, argv)})
            return b'', '', 255, True
        out, err, rc, changes = '', '', 0, False
        try:
            if fault and fault['action'] in ('garbage', 'noresults', 'fail'):
                out = {'garbage': fault.get('text', '%%% not the expected output %%%\n'), 'noresults': 'No results were found.\n'}.get(fault['action'], '')
                if fault['action'] == 'fail':
                    err, rc = fault.get('text', 'injected failure\n'), fault.get('code', 1)
            else:
                out, err, changes = dispatch(f, role, endpoint, argv, stdin)
                if out is None:
                    f.log('unknown.log', {'endpoint': endpoint, 'argv': argv})
                    shell = 'rbash' if role == 'hmc' else 'rksh' if role == 'vios' else 'ksh'
                    out, err, rc = '', '%s: %s:  not found.\n' % (shell, argv[0]), 127
        except fr.CommandError as e:
            err, rc = (str(e) + '\n') if str(e) else '', e.code
        except Exception as e:  # an emulator bug must not pass for a command's answer
            import traceback
            f.log('unknown.log', {'endpoint': endpoint, 'argv': argv, 'crash': traceback.format_exc()})
            err, rc = 'emulator error: %r\n' % e, 99
        if changes or changing(role, argv):
            f.save()
        f.log('commands.log', {'t': round(started, 3), 'endpoint': endpoint, 'argv': argv, 'rc': rc, 'change': changing(role, argv), 'ms': round((time.time() - started) * 1000, 1)})
        data = out if isinstance(out, bytes) else out.encode()
        return data, err, rc, bool(fault and fault['action'] == 'drop')
    finally:
        f.unlock()
