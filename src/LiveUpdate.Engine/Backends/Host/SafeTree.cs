using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using LiveUpdate.Engine.Flow;
using Microsoft.Win32.SafeHandles;

namespace LiveUpdate.Engine.Backends.Host;

/// <summary>
/// A tree the host does not trust (a partition's or a clone's root, as the host sees it), opened as a directory
/// handle: every path in it is resolved relative to that handle and never through a link, with openat2
/// (<c>RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS</c>, and <c>RESOLVE_NO_XDEV</c> unless mounts inside the tree are the
/// tree's own) or, where the kernel lacks openat2, component by component with <c>O_NOFOLLOW</c>. A link anywhere on
/// the way, a ".." or a path that would leave the tree is refused with <c>UnsafePath</c>; reads are bounded and take
/// regular files only; writes go to a new temporary file (<c>O_CREAT | O_EXCL</c>) that is flushed and renamed over
/// the name, so a link planted there is replaced, never followed. The VM and container backends share it.
/// </summary>
internal sealed class SafeTree : IDisposable
{
    /// <summary>The most a read takes by default: files the backend reads in a tree are small.</summary>
    public const long DefaultLimit = 1024 * 1024;

    private readonly int _fd;
    private readonly ulong _resolve;
    private readonly ulong _mountId;
    private int _closed;

    private SafeTree(string root, int fd, bool crossMounts)
    {
        Root = root;
        _fd = fd;
        CrossMounts = crossMounts;
        _resolve = Native.RESOLVE_BENEATH | Native.RESOLVE_NO_SYMLINKS | Native.RESOLVE_NO_MAGICLINKS | (crossMounts ? 0 : Native.RESOLVE_NO_XDEV);
        _mountId = crossMounts ? 0 : MountId(fd);
    }

    public string Root { get; }

    /// <summary>True where mounts inside the tree are its own (a running partition's root seen through /proc/PID/root).</summary>
    public bool CrossMounts { get; }

    /// <summary>
    /// Opens a tree at a path the host trusts (a mount point it made, or <c>/proc/PID/root</c>, whose magic link is
    /// the point): only the path of the root itself is followed.
    /// </summary>
    public static SafeTree Open(string root, bool crossMounts = false)
    {
        var fd = Native.OpenAt(Native.AT_FDCWD, root, Native.O_PATH | Native.O_DIRECTORY, 0, out var errno);
        if (fd < 0)
            throw errno == Native.ENOENT
                ? new LiveUpdateException("TreeNotFound", ErrorKind.ObjectNotFound, $"The folder '{root}' does not exist.", root)
                : new LiveUpdateException("TreeUnreadable", ErrorKind.DeviceError, $"The folder '{root}' cannot be opened (errno {errno}).", root);
        return new SafeTree(root, fd, crossMounts);
    }

    public void Dispose()
    {
        if (System.Threading.Interlocked.Exchange(ref _closed, 1) == 0) Native.Close(_fd);
    }

    // ================================================================== reading

    /// <summary>The entry at a path, its last component not followed; null when it is not there.</summary>
    public Native.FileStat? Lstat(string path)
    {
        var (parent, leaf) = Split(path);
        if (leaf is null) return Native.Stat(_fd, "", Native.AT_EMPTY_PATH, out _);
        var dir = OpenDirectory(parent, create: false);
        if (dir < 0) return null;
        try
        {
            return Native.Stat(dir, leaf, Native.AT_SYMLINK_NOFOLLOW, out _);
        }
        finally
        {
            Native.Close(dir);
        }
    }

    /// <summary>True when a regular file or a directory is at the path; a link there or on the way counts as nothing.</summary>
    public bool Exists(string path)
    {
        try
        {
            return Lstat(path) is { } s && (s.IsRegular || s.IsDirectory);
        }
        catch (LiveUpdateException e) when (e.ErrorId == "UnsafePath")
        {
            return false;
        }
    }

    /// <summary>A regular file's bytes, at most <paramref name="limit"/>; null when it is not there.</summary>
    public byte[]? Read(string path, long limit = DefaultLimit)
    {
        // Looked at before it is opened: opening a device node can itself do something (a watchdog, a tape).
        var entry = Lstat(path);
        if (entry is null) return null;
        if (!entry.Value.IsRegular) throw Unsafe(path, entry.Value.IsLink ? "is a link" : "is not a regular file (a device, a pipe or a socket is never read)");
        var fd = OpenBeneath(path, Native.O_RDONLY | Native.O_NONBLOCK | Native.O_NOCTTY, 0);
        if (fd < 0) return null;
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        var stat = Native.Stat(fd, "", Native.AT_EMPTY_PATH, out _);
        if (stat is null || !stat.Value.IsRegular)
            throw Unsafe(path, "is not a regular file (a device, a pipe or a socket is never read)");
        if (stat.Value.Size > limit)
            throw new LiveUpdateException("FileTooLarge", ErrorKind.LimitsExceeded, $"'{path}' in {Root} holds {stat.Value.Size} bytes, more than the {limit} LiveUpdate reads there.", path);
        using var stream = new FileStream(handle, FileAccess.Read, 1);
        var buffer = new byte[Math.Min(limit + 1, Math.Max(stat.Value.Size + 1, 1))];
        var total = 0;
        while (total < buffer.Length)
        {
            var n = stream.Read(buffer, total, buffer.Length - total);
            if (n == 0) break;
            total += n;
        }
        if (total > limit)
            throw new LiveUpdateException("FileTooLarge", ErrorKind.LimitsExceeded, $"'{path}' in {Root} grew past the {limit} bytes LiveUpdate reads there.", path);
        return buffer.AsSpan(0, total).ToArray();
    }

    public string? ReadText(string path, long limit = DefaultLimit) => Read(path, limit) is { } bytes ? System.Text.Encoding.UTF8.GetString(bytes) : null;

    /// <summary>
    /// Where a path leads inside the tree when its links are resolved as the partition itself would resolve them (an
    /// absolute link from the tree's root, ".." never above it), at most 40 links; null when it leads nowhere. The
    /// links are read, never followed by the host.
    /// </summary>
    public string? Resolve(string path)
    {
        var done = new List<string>();
        var todo = new LinkedList<string>(path.Split('/', StringSplitOptions.RemoveEmptyEntries));
        var links = 0;
        while (todo.First is { } node)
        {
            todo.RemoveFirst();
            var c = node.Value;
            if (c == ".") continue;
            if (c == "..")
            {
                if (done.Count > 0) done.RemoveAt(done.Count - 1);
                continue;
            }
            var relative = string.Join("/", done.Append(c));
            var entry = Lstat(relative);
            if (entry is null) return null;
            if (!entry.Value.IsLink)
            {
                done.Add(c);
                continue;
            }
            if (++links > 40) return null;
            var target = ReadLink(relative);
            if (target is null) return null;
            if (target.StartsWith("/", StringComparison.Ordinal)) done.Clear();
            foreach (var part in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse()) todo.AddFirst(part);
        }
        return "/" + string.Join("/", done);
    }

    private string? ReadLink(string path)
    {
        var (parent, leaf) = Split(path);
        if (leaf is null) return null;
        var dir = OpenDirectory(parent, create: false);
        if (dir < 0) return null;
        try
        {
            return Native.ReadLinkAt(dir, leaf);
        }
        finally
        {
            Native.Close(dir);
        }
    }

    // ================================================================== writing

    /// <summary>
    /// Writes a file: a new temporary file beside it (<c>O_CREAT | O_EXCL | O_NOFOLLOW</c>), flushed, given its mode
    /// and renamed over the name; missing folders on the way are made. A link at the name is replaced, not followed.
    /// </summary>
    public void Write(string path, ReadOnlySpan<byte> content, UnixFileMode mode = (UnixFileMode)0x1a4)
    {
        var bytes = content.ToArray();
        WriteWith(path, mode, stream => stream.Write(bytes, 0, bytes.Length));
    }

    public void WriteText(string path, string text, UnixFileMode mode = (UnixFileMode)0x1a4) => Write(path, System.Text.Encoding.UTF8.GetBytes(text), mode);

    /// <summary>Copies a file of the host's (a verified bundle's payload) into the tree, the same way as <see cref="Write"/>.</summary>
    public void CopyIn(string hostFile, string path, UnixFileMode mode = (UnixFileMode)0x1a4)
    {
        using var source = new FileStream(hostFile, FileMode.Open, FileAccess.Read);
        WriteWith(path, mode, stream => source.CopyTo(stream));
    }

    private void WriteWith(string path, UnixFileMode mode, Action<FileStream> write)
    {
        var (parent, leaf) = Split(path);
        if (leaf is null) throw Unsafe(path, "names the root of the tree, not a file");
        var dir = OpenDirectory(parent, create: true);
        try
        {
            var temp = ".liveupdate-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(8)).ToLowerInvariant();
            var fd = Native.OpenAt(dir, temp, Native.O_WRONLY | Native.O_CREAT | Native.O_EXCL | Native.O_NOFOLLOW, (uint)mode, out var errno);
            if (fd < 0) throw Failed(path, "cannot be created", errno);
            try
            {
                using (var handle = new SafeFileHandle(fd, ownsHandle: true))
                using (var stream = new FileStream(handle, FileAccess.Write, 1))
                {
                    write(stream);
                    stream.Flush();
                    Check(path, Native.Fchmod(fd, (uint)mode), "cannot be given its mode");
                    Check(path, Native.Fsync(fd), "cannot be flushed");
                }
                Check(path, Native.RenameAt(dir, temp, leaf), "cannot be put in place");
            }
            catch
            {
                Native.UnlinkAt(dir, temp, directory: false);
                throw;
            }
        }
        finally
        {
            Native.Close(dir);
        }
    }

    /// <summary>Makes the folders of a path that are missing (mode 0755); an existing link on the way is refused.</summary>
    public void CreateDirectory(string path) => Native.Close(OpenDirectory(path, create: true));

    /// <summary>Removes the entry at a path (a link itself, never its target); true when there was one.</summary>
    public bool Delete(string path)
    {
        var (parent, leaf) = Split(path);
        if (leaf is null) return false;
        var dir = OpenDirectory(parent, create: false);
        if (dir < 0) return false;
        try
        {
            var errno = Native.UnlinkAt(dir, leaf, directory: false);
            if (errno == Native.EISDIR || errno == 1) errno = Native.UnlinkAt(dir, leaf, directory: true);
            if (errno == Native.ENOENT) return false;
            Check(path, errno, "cannot be removed");
            return true;
        }
        finally
        {
            Native.Close(dir);
        }
    }

    // ================================================================== resolving

    /// <summary>The components of a path inside the tree (a leading "/" means the tree's root); ".." is refused.</summary>
    public static IReadOnlyList<string> Components(string path)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToList();
        if (parts.Any(p => p == "..") || path.Contains('\0'))
            throw new LiveUpdateException("UnsafePath", ErrorKind.InvalidArgument, $"The path '{path}' climbs out with '..'; LiveUpdate takes only plain paths inside a partition's tree.", path);
        return parts;
    }

    private static (string Parent, string? Leaf) Split(string path)
    {
        var parts = Components(path);
        return parts.Count == 0 ? ("", null) : (string.Join("/", parts.Take(parts.Count - 1)), parts[^1]);
    }

    /// <summary>Opens a file beneath the root; -1 when it (or a folder on the way) is not there.</summary>
    private int OpenBeneath(string path, int flags, uint mode)
    {
        var parts = Components(path);
        if (parts.Count == 0) throw Unsafe(path, "names the root of the tree, not a file");
        if (Native.HasOpenat2)
        {
            for (var attempt = 0; ; attempt++)
            {
                var fd = Native.OpenAt2(_fd, string.Join("/", parts), flags, mode, _resolve, out var errno);
                if (fd >= 0) return fd;
                if (errno == Native.EAGAIN && attempt < 10) continue;
                if (errno == Native.ENOSYS || errno == Native.E2BIG) { Native.HasOpenat2 = false; break; }
                if (errno == Native.ENOENT) return -1;
                throw Refused(path, errno);
            }
        }
        var dir = OpenDirectory(string.Join("/", parts.Take(parts.Count - 1)), create: false);
        if (dir < 0) return -1;
        try
        {
            var fd = Native.OpenAt(dir, parts[^1], flags | Native.O_NOFOLLOW, mode, out var errno);
            if (fd >= 0) return fd;
            if (errno == Native.ENOENT) return -1;
            throw Refused(path, errno);
        }
        finally
        {
            Native.Close(dir);
        }
    }

    /// <summary>Opens a folder beneath the root (made where missing when <paramref name="create"/>); -1 when it is not there.</summary>
    private int OpenDirectory(string path, bool create)
    {
        var parts = Components(path);
        var flags = Native.O_RDONLY | Native.O_DIRECTORY;
        if (!create && Native.HasOpenat2 && parts.Count > 0)
        {
            var fd = Native.OpenAt2(_fd, string.Join("/", parts), flags, 0, _resolve, out var errno);
            if (fd >= 0) return fd;
            if (errno == Native.ENOENT) return -1;
            if (errno is not (Native.ENOSYS or Native.E2BIG or Native.EAGAIN)) throw Refused(path, errno);
        }
        // Component by component: each folder opened without following a link, made first where allowed.
        var current = Native.OpenAt(_fd, ".", flags, 0, out var e0);
        if (current < 0) throw Failed(path, "cannot be opened", e0);
        var walked = new List<string>();
        foreach (var part in parts)
        {
            walked.Add(part);
            var next = Native.OpenAt(current, part, flags | Native.O_NOFOLLOW, 0, out var errno);
            if (next < 0 && errno == Native.ENOENT && create)
            {
                var made = Native.MkdirAt(current, part, 0x1ed);
                if (made != 0 && made != Native.EEXIST) { Native.Close(current); throw Failed(string.Join("/", walked), "cannot be made", made); }
                next = Native.OpenAt(current, part, flags | Native.O_NOFOLLOW, 0, out errno);
            }
            Native.Close(current);
            if (next < 0)
            {
                if (errno == Native.ENOENT) return -1;
                throw Refused(string.Join("/", walked), errno);
            }
            if (!CrossMounts && MountId(next) != _mountId)
            {
                Native.Close(next);
                throw Unsafe(string.Join("/", walked), "is a mount point inside the tree");
            }
            current = next;
        }
        return current;
    }

    private static ulong MountId(int fd)
    {
        var buffer = new byte[256];
        return Native.StatRaw(fd, buffer) ? BitConverter.ToUInt64(buffer, 144) : 0;
    }

    private LiveUpdateException Refused(string path, int errno) => errno switch
    {
        Native.ELOOP => Unsafe(path, "passes through a link"),
        Native.EXDEV => Unsafe(path, "leaves the tree or crosses a mount inside it"),
        Native.ENOTDIR => Unsafe(path, "passes through something that is not a folder"),
        _ => Failed(path, "cannot be opened", errno),
    };

    private LiveUpdateException Unsafe(string path, string why) => new("UnsafePath", ErrorKind.PermissionDenied,
        $"'{path}' in {Root} {why}; LiveUpdate never follows a link in a partition's files.", path);

    private LiveUpdateException Failed(string path, string what, int errno) => new("TreeWriteFailed", ErrorKind.DeviceError,
        $"'{path}' in {Root} {what} (errno {errno}).", path);

    private void Check(string path, int errno, string what)
    {
        if (errno == Native.EISDIR) throw Unsafe(path, "is a folder where a file belongs");
        if (errno != 0) throw Failed(path, what, errno);
    }
}
