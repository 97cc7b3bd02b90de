using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Threading;

namespace LiveUpdate.Engine.Flow;

/// <summary>
/// One live update per partition at a time, across threads and processes: an exclusive lock on
/// <c>locks/&lt;partition&gt;.lock</c> beside the system's state, with <c>locks/&lt;partition&gt;.owner</c> naming the
/// owner's process id and operation while it is held; both are gone once it is released. The operating system drops the lock of a process that dies, so a stale lock is
/// recognised (its file still names a process that is gone) and taken over; the operation it was running is then
/// interrupted, and <c>Resume-LiveUpdate</c> finishes it. Re-entrant on the thread that holds it. The file is created
/// and removed only under the system's own lock, so no process can hold an unlinked lock file while another creates a
/// new one; a released lock leaves nothing behind.
/// </summary>
public sealed class PartitionLock : IDisposable
{
    private static readonly Dictionary<string, (PartitionLock Lock, int Thread, int Depth)> Held = new(StringComparer.Ordinal);
    private readonly string _path;
    private readonly Func<IDisposable> _systemLock;
    private FileStream? _stream;

    private PartitionLock(string path, FileStream stream, string? previousOwner, Func<IDisposable> systemLock)
    {
        _path = path;
        _systemLock = systemLock;
        _stream = stream;
        PreviousOwner = previousOwner;
    }

    /// <summary>What the lock file said when it was taken over from a process that had died, or null.</summary>
    public string? PreviousOwner { get; }

    public static string PathOf(string location, string partition) => Path.Combine(location, "locks", partition.ToLowerInvariant() + ".lock");

    private static string OwnerPath(string lockPath) => Path.ChangeExtension(lockPath, ".owner");

    /// <summary>Who holds (or, after a crash, held) the partition's lock; empty when nobody.</summary>
    public static string Owner(string location, string partition)
    {
        try
        {
            return Backends.NoFollow.ReadText(OwnerPath(PathOf(location, partition)))?.Trim() ?? "";
        }
        catch (Exception e) when (e is IOException or LiveUpdateException)
        {
            return "";
        }
    }

    /// <summary>True when some live thread or process holds the partition's lock.</summary>
    public static bool IsHeld(string location, string partition)
    {
        var path = PathOf(location, partition);
        lock (Held)
        {
            if (Held.ContainsKey(path)) return true;
        }
        if (!File.Exists(path)) return false;
        try
        {
            using var fs = Backends.NoFollow.OpenLocked(path, create: false);
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    public static IDisposable Acquire(string location, string partition, string operation, Func<IDisposable> systemLock)
    {
        var path = PathOf(location, partition);
        lock (Held)
        using (systemLock())
        {
            if (Held.TryGetValue(path, out var held))
            {
                if (held.Thread != Environment.CurrentManagedThreadId)
                    throw Busy(partition, "another command of this process");
                Held[path] = (held.Lock, held.Thread, held.Depth + 1);
                return new Releaser(path);
            }
            Backends.Folders.CreateOwnerOnly(Path.GetDirectoryName(path)!);
            FileStream fs;
            try
            {
                fs = Backends.NoFollow.OpenLocked(path, create: true);
            }
            catch (IOException)
            {
                throw Busy(partition, Owner(location, partition));
            }
            var ownerPath = OwnerPath(path);
            string? previous;
            try
            {
                previous = Backends.NoFollow.ReadText(ownerPath)?.Trim();
                if (string.IsNullOrEmpty(previous)) previous = null;
                Backends.NoFollow.WriteAtomically(ownerPath, $"pid={Environment.ProcessId} operation={operation} since={DateTimeOffset.UtcNow:o}");
            }
            catch
            {
                fs.Dispose();
                throw;
            }
            var l = new PartitionLock(path, fs, previous, systemLock);
            Held[path] = (l, Environment.CurrentManagedThreadId, 1);
            return new Releaser(path);
        }
    }

    /// <summary>The lock object behind a handle that <see cref="Acquire"/> returned.</summary>
    public static PartitionLock? Of(IDisposable handle) => handle is Releaser r ? Lookup(r.Path) : null;

    private static PartitionLock? Lookup(string path)
    {
        lock (Held) return Held.TryGetValue(path, out var h) ? h.Lock : null;
    }

    private static LiveUpdateException Busy(string partition, string owner) => new("UpdateInProgress", ErrorKind.ResourceBusy,
        $"A live update of {partition} is in flight ({(string.IsNullOrEmpty(owner) ? "owner unknown" : owner)}); wait for it or see Get-LiveUpdateOperation.", partition);

    public void Dispose()
    {
        var fs = Interlocked.Exchange(ref _stream, null);
        if (fs is null) return;
        using (_systemLock())
        {
            File.Delete(OwnerPath(_path));
            File.Delete(_path);
            fs.Dispose();
            var folder = Path.GetDirectoryName(_path)!;
            if (Directory.Exists(folder) && !Directory.EnumerateFileSystemEntries(folder).GetEnumerator().MoveNext()) Directory.Delete(folder);
        }
    }

    private sealed class Releaser : IDisposable
    {
        private int _done;
        public Releaser(string path) => Path = path;
        public string Path { get; }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 1) return;
            lock (Held)
            {
                if (!Held.TryGetValue(Path, out var h)) return;
                if (h.Depth > 1)
                {
                    Held[Path] = (h.Lock, h.Thread, h.Depth - 1);
                    return;
                }
                Held.Remove(Path);
                h.Lock.Dispose();
            }
        }
    }

    /// <summary>True when a process with this id is alive.</summary>
    public static bool ProcessAlive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
