# The frame's resident emulator: every endpoint's ForceCommand (shell.py) hands its command to this server over a
# Unix socket, so that a command costs no interpreter start-up beyond the small client. Usage: server.py FRAME
import os
import socketserver
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulator  # noqa: E402


def read_exact(sock, n):
    data = b''
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            size, = struct.unpack('!I', read_exact(self.request, 4))
            role, slot, line, stdin = read_exact(self.request, size).split(b'\0', 3)
            out, err, rc, drop = emulator.handle(root, role.decode(), slot.decode() or None, line.decode('utf-8', 'replace'), stdin)
        except EOFError:
            return
        err = err.encode()
        self.request.sendall(struct.pack('!iBII', rc, 1 if drop else 0, len(out), len(err)) + out + err)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


root = os.path.abspath(sys.argv[1])
path = os.path.join(root, 'run', 'emulator.sock')
if os.path.exists(path):
    os.remove(path)
old = os.umask(0o077)
server = Server(path, Handler)
os.umask(old)
with open(os.path.join(root, 'run', 'emulator.pid'), 'w') as fh:
    fh.write(str(os.getpid()))
server.serve_forever()
