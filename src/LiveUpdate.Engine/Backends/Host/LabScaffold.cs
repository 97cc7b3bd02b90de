using System;
using System.Collections.Generic;
using System.Formats.Tar;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.Engine.Backends.Host;

/// <summary>
/// What the Linux labs are made of, written once: lab ids, sparse disk files, files written into a lab's root, the
/// sample application <c>recordd</c> (a network service that appends numbered records and acknowledges each one after
/// fsync, run by busybox), and the payloads of sample bundles (an overlay archive, a small Debian package).
/// </summary>
internal static class LabScaffold
{
    /// <summary>Makes a sparse disk file of the given size; it must not exist yet.</summary>
    public static void CreateDiskFile(string path, long sizeMB)
    {
        using var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        f.SetLength(sizeMB * 1024 * 1024);
    }

    public static string NewId()
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
        var bytes = RandomNumberGenerator.GetBytes(6);
        return new string(bytes.Select(b => alphabet[b % alphabet.Length]).ToArray());
    }

    public static void Write(string root, string relative, string text, bool executable = false)
    {
        var file = Path.Combine(root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, text.Replace("\r\n", "\n"));
        if (executable && !OperatingSystem.IsWindows()) File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
    }

    /// <summary>Starts, stops and checks recordd: busybox nc serving each connection with the handler.</summary>
    public const string ControlScript = """
        #!/bin/sh
        # recordd: appends numbered records on request and acknowledges each one after fsync.
        #   start            serve on port 7000 in the background (process group of its own, pid in /run/recordd.pid)
        #   health ADDRESS   exit 0 when recordd answers PING on ADDRESS
        export PATH=/usr/sbin:/usr/bin:/sbin:/bin
        PIDFILE=/run/recordd.pid
        case "$1" in
        start)
            mkdir -p /srv/recordd
            touch /srv/recordd/records.log
            rmdir /run/recordd.lock 2>/dev/null
            setsid nc -ll -p 7000 -e /opt/recordd/recordd-handler </dev/null >/dev/null 2>&1 &
            echo $! > $PIDFILE
            ;;
        health)
            reply=$(printf 'PING\n' | nc -w 1 "${2:-127.0.0.1}" 7000 2>/dev/null)
            case "$reply" in PONG*) exit 0;; *) exit 1;; esac
            ;;
        *)
            echo "usage: $0 start|health ADDRESS" >&2
            exit 2
            ;;
        esac
        """;

    /// <summary>One connection: PING answers PONG with the record count and version; APPEND CLIENT N appends, fsyncs, acknowledges.</summary>
    public const string HandlerScript = """
        #!/bin/sh
        DATA=/srv/recordd/records.log
        read -r cmd client n || exit 0
        case "$cmd" in
        PING)
            set -- $(wc -l < $DATA 2>/dev/null)
            echo "PONG ${1:-0} $(cat /opt/recordd/VERSION 2>/dev/null)"
            ;;
        APPEND)
            until mkdir /run/recordd.lock 2>/dev/null; do usleep 1000; done
            set -- $(wc -l < $DATA 2>/dev/null)
            seq=$(( ${1:-0} + 1 ))
            printf '%08d %s %s %s\n' "$seq" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$client" "$n" >> $DATA
            sync $DATA
            rmdir /run/recordd.lock
            echo "ACK $seq $client $n"
            ;;
        *)
            echo "ERR unknown command"
            ;;
        esac
        """;

    public static byte[] Overlay(IReadOnlyDictionary<string, string> files)
    {
        using var buffer = new MemoryStream();
        using (var gz = new GZipStream(buffer, CompressionLevel.Optimal, leaveOpen: true))
        using (var tar = new TarWriter(gz, TarEntryFormat.Gnu, leaveOpen: true))
        {
            foreach (var (name, text) in files)
            {
                var entry = new GnuTarEntry(TarEntryType.RegularFile, name)
                {
                    DataStream = new MemoryStream(Encoding.UTF8.GetBytes(text)),
                    Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                    ModificationTime = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero),
                };
                tar.WriteEntry(entry);
            }
        }
        return buffer.ToArray();
    }

    /// <summary>A tiny Debian package: a file, and a maintainer script that proves it ran inside the clone with /proc bound.</summary>
    public static byte[] Deb(HostTools tools, string name, string version, OsLevel level)
    {
        var work = Path.Combine(Path.GetTempPath(), "liveupdate-deb-" + Guid.NewGuid().ToString("N"));
        try
        {
            var pkg = Path.Combine(work, "pkg");
            Write(pkg, "DEBIAN/control", $"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: LiveUpdate Lab <lab@example.invalid>\nDescription: LiveUpdate lab base files at {level}\n");
            Write(pkg, "DEBIAN/postinst", $"#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n  test -r /proc/self/status\n  echo \"{name} {version} configured\" >> /var/log/lab-base.log\nfi\n", executable: true);
            Write(pkg, $"usr/share/lab-base/release", level + "\n");
            var deb = Path.Combine(work, name + ".deb");
            // gzip: busybox's dpkg, the lab partitions' own, reads that.
            tools.Run("dpkg-deb", "-Zgzip", "--root-owner-group", "--build", pkg, deb);
            return File.ReadAllBytes(deb);
        }
        finally
        {
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
        }
    }
}
