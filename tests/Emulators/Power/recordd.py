# recordd: the sample application of the emulated partitions. It listens on its service address, appends each
# record (APPEND <client> <n>) to records.log on every copy of its logical volume, each copy flushed to disk, and
# only then acknowledges it (ACK <sequence>); PING answers PONG <records>. Where the copies are it reads from the
# frame's lvcopies/<vgid>.json, so a copy added while it runs receives every later write.
import json
import os
import signal
import socket
import sys

import frame as fr

root, vgid, lv, address, port = sys.argv[1:6]
f = fr.Frame(root)
copies_file = f.path('lvcopies', vgid + '.json')
state = {'mtime': None, 'dirs': []}
stopping = []


def dirs():
    m = os.stat(copies_file).st_mtime_ns
    if m != state['mtime']:
        with open(copies_file) as fh:
            state['dirs'] = json.load(fh)[lv]
        state['mtime'] = m
    return state['dirs']


def count():
    try:
        with open(os.path.join(dirs()[0], 'records.log'), 'rb') as fh:
            return fh.read().count(b'\n')
    except FileNotFoundError:
        return 0


def append(client, n, seq):
    line = ('%d %s %s\n' % (seq, client, n)).encode()
    for d in dirs():
        with open(os.path.join(d, 'records.log'), 'ab') as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())


def main():
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((address, int(port)))
    server.listen(64)
    server.settimeout(0.2)
    seq = count()
    ready = f.path('run', 'recordd-%s.ready' % vgid)
    with open(ready + '.tmp', 'w') as fh:
        fh.write(str(os.getpid()))
    os.replace(ready + '.tmp', ready)
    while not stopping:
        try:
            conn, _ = server.accept()
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        with conn:
            conn.settimeout(2)
            try:
                for raw in conn.makefile('rb'):
                    words = raw.decode('ascii', 'replace').split()
                    if words[:1] == ['PING']:
                        conn.sendall(('PONG %d\n' % seq).encode())
                    elif len(words) == 3 and words[0] == 'APPEND':
                        lock = f.vg_lock(vgid)
                        try:
                            append(words[1], words[2], seq + 1)
                            seq += 1
                        finally:
                            lock.close()
                        conn.sendall(('ACK %d\n' % seq).encode())
                    else:
                        conn.sendall(b'ERR\n')
                    if stopping:
                        break
            except (OSError, socket.timeout):
                pass
    server.close()


main()
