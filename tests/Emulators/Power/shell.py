# The login command of every emulated endpoint (sshd's ForceCommand): hands the command the SSH client sent
# (SSH_ORIGINAL_COMMAND) and, for dd, its standard input to the frame's server, and gives back its output and exit
# code; an injected dropped connection kills this session's sshd. Usage: shell.py hmc|vios|slot FRAME [SLOT]
import _socket
import os
import signal
import sys


def main():
    role, root = sys.argv[1], sys.argv[2]
    slot = sys.argv[3] if len(sys.argv) > 3 else ''
    line = os.environ.get('SSH_ORIGINAL_COMMAND', '')
    stdin = sys.stdin.buffer.read() if line.startswith('dd ') else b''
    body = b'\0'.join([role.encode(), slot.encode(), line.encode(), stdin])
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    s.connect(os.path.join(root, 'run', 'emulator.sock'))
    s.sendall(len(body).to_bytes(4, 'big') + body)
    data = b''
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    rc = int.from_bytes(data[0:4], 'big', signed=True)
    drop = data[4]
    n_out, n_err = int.from_bytes(data[5:9], 'big'), int.from_bytes(data[9:13], 'big')
    sys.stdout.buffer.write(data[13:13 + n_out])
    sys.stderr.buffer.write(data[13 + n_out:13 + n_out + n_err])
    sys.stdout.flush()
    sys.stderr.flush()
    if drop:
        kill_session()
    return rc


def kill_session():
    """Drops the connection: kills the sshd process that serves this session."""
    pid = os.getppid()
    for _ in range(5):
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read()
        if fields[fields.index('(') + 1:fields.rindex(')')] == 'sshd':
            os.kill(pid, signal.SIGKILL)
            break
        pid = int(fields[fields.rindex(')') + 2:].split()[1])
    os._exit(255)


sys.exit(main())
