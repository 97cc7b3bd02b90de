# A client of recordd for the tests: appends numbered records one connection at a time, as fast as the service
# answers, and notes each acknowledged one with its time (FOLDER/acked: "n time"); stops when FOLDER/stop exists.
# Usage: client.py ADDRESS PORT FOLDER
import os
import socket
import sys
import time

address, port, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
n = 0
with open(os.path.join(folder, 'acked'), 'a') as log:
    while not os.path.exists(os.path.join(folder, 'stop')):
        n += 1
        while True:
            try:
                with socket.create_connection((address, port), timeout=1) as s:
                    s.sendall(b'APPEND client %d\n' % n)
                    reply = s.makefile().readline()
                if reply.startswith('ACK'):
                    log.write('%d %.6f\n' % (n, time.time()))
                    log.flush()
                    break
            except OSError:
                pass
            if os.path.exists(os.path.join(folder, 'stop')):
                sys.exit(0)
            time.sleep(0.01)
        time.sleep(0.005)
