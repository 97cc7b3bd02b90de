using System;
using System.IO;
using System.Runtime.InteropServices;
using LiveUpdate.Engine.Flow;
using Microsoft.Win32.SafeHandles;

namespace LiveUpdate.Engine.Bundles;

/// <summary>What a path is, as lstat sees it (a link is never followed).</summary>
internal enum NodeType { Missing, File, Directory, SymbolicLink, CharacterDevice, BlockDevice, Fifo, Socket, Unknown }

/// <summary>A node's type, permission bits and owner, read without following a link.</summary>
internal readonly record struct NodeInfo(NodeType Type, UnixFileMode Mode, uint Owner, ulong Inode, long Size)
{
    public bool WritableByOthers => (Mode & UnixFileMode.OtherWrite) != 0;
    public bool Sticky => (Mode & UnixFileMode.StickyBit) != 0;
}

/// <summary>
/// The file-system calls that bundle handling trusts: a node's type without following links (statx on Linux), a
/// regular file opened so that neither a link, a FIFO nor a device is ever read (O_NOFOLLOW | O_NONBLOCK, then the
/// type of the open descriptor checked), reads bounded to a size, and a new folder only the owner can enter.
/// </summary>
internal static class BundleFiles
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const int AtEmptyPath = 0x1000;
    private const uint StatxBasicStats = 0x7ff;
    private const int ONonBlock = 0x800;
    private const int OCloExec = 0x80000;

    // O_NOFOLLOW differs between the Linux architectures .NET runs on.
    private static int ONoFollow => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x8000 : 0x20000;

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Statx(int dirfd, string path, int flags, uint mask, byte[] buffer);

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open(string path, int flags, int mode);

    [DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEuid();

    private static bool Native => OperatingSystem.IsLinux();

    public static uint CurrentUser => Native ? GetEuid() : 0;

    /// <summary>The node at a path, its last component not followed.</summary>
    public static NodeInfo Inspect(string path)
    {
        if (Native)
        {
            var buffer = new byte[256];
            if (Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxBasicStats, buffer) != 0)
            {
                var errno = Marshal.GetLastWin32Error();
                if (errno is 2 or 20) return new NodeInfo(NodeType.Missing, 0, 0, 0, 0); // ENOENT, ENOTDIR
                throw new IOException($"'{path}' cannot be examined (errno {errno}).");
            }
            return FromStatx(buffer);
        }
        var info = new FileInfo(path);
        if (info.LinkTarget is not null) return new NodeInfo(NodeType.SymbolicLink, 0, 0, 0, 0);
        if (Directory.Exists(path)) return new NodeInfo(NodeType.Directory, OperatingSystem.IsWindows() ? 0 : File.GetUnixFileMode(path), 0, 0, 0);
        if (!info.Exists) return new NodeInfo(NodeType.Missing, 0, 0, 0, 0);
        return new NodeInfo(NodeType.File, OperatingSystem.IsWindows() ? 0 : File.GetUnixFileMode(path), 0, 0, info.Length);
    }

    private static NodeInfo FromStatx(byte[] b)
    {
        var mode = BitConverter.ToUInt16(b, 28);
        var type = (mode & 0xF000) switch
        {
            0x8000 => NodeType.File,
            0x4000 => NodeType.Directory,
            0xA000 => NodeType.SymbolicLink,
            0x2000 => NodeType.CharacterDevice,
            0x6000 => NodeType.BlockDevice,
            0x1000 => NodeType.Fifo,
            0xC000 => NodeType.Socket,
            _ => NodeType.Unknown,
        };
        return new NodeInfo(type, (UnixFileMode)(mode & 0xFFF), BitConverter.ToUInt32(b, 20), BitConverter.ToUInt64(b, 32), (long)BitConverter.ToUInt64(b, 40));
    }

    public static string Describe(NodeType type) => type switch
    {
        NodeType.SymbolicLink => "a symbolic link",
        NodeType.CharacterDevice => "a character device",
        NodeType.BlockDevice => "a block device",
        NodeType.Fifo => "a FIFO",
        NodeType.Socket => "a socket",
        NodeType.Directory => "a folder",
        NodeType.Missing => "missing",
        _ => "not a regular file",
    };

    /// <summary>
    /// Opens a regular file for reading: a link, FIFO, device or socket is refused (<c>BundleEntryTypeNotAllowed</c>)
    /// without being read or waited on; the open descriptor's own type is what is checked.
    /// </summary>
    public static FileStream OpenRegular(string path, string source, string shownName)
    {
        if (!Native)
        {
            var node = Inspect(path);
            if (node.Type != NodeType.File) throw NotRegular(source, shownName, node.Type);
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        }
        var fd = Open(path, ONoFollow | ONonBlock | OCloExec, 0);
        if (fd < 0)
        {
            var errno = Marshal.GetLastWin32Error();
            // ELOOP: the last component is a link; ENXIO: a FIFO without a writer or a socket.
            var seen = errno is 40 or 6 ? Inspect(path).Type : NodeType.Missing;
            if (seen is NodeType.Missing && errno is 2 or 20) throw new FileNotFoundException($"'{path}' does not exist.", path);
            throw NotRegular(source, shownName, seen == NodeType.Missing ? NodeType.Unknown : seen);
        }
        var handle = new SafeFileHandle((IntPtr)fd, ownsHandle: true);
        var buffer = new byte[256];
        if (Statx(fd, "", AtEmptyPath, StatxBasicStats, buffer) != 0)
        {
            handle.Dispose();
            throw new IOException($"'{path}' cannot be examined (errno {Marshal.GetLastWin32Error()}).");
        }
        var type = FromStatx(buffer).Type;
        if (type != NodeType.File)
        {
            handle.Dispose();
            throw NotRegular(source, shownName, type);
        }
        return new FileStream(handle, FileAccess.Read, 1);
    }

    public static LiveUpdateException NotRegular(string source, string name, NodeType type) => new("BundleEntryTypeNotAllowed", ErrorKind.InvalidData,
        $"'{name}' in the bundle '{source}' is {Describe(type)}; a bundle holds only regular files and folders.", source);

    /// <summary>Reads at most <paramref name="limit"/> bytes; null when the stream holds more.</summary>
    public static byte[]? ReadBounded(Stream stream, long limit)
    {
        using var copy = new MemoryStream();
        var buffer = new byte[81920];
        int n;
        while ((n = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            if (copy.Length + n > limit) return null;
            copy.Write(buffer, 0, n);
        }
        return copy.ToArray();
    }

    /// <summary>
    /// Refuses a bundle that anyone but its owner may have changed: the bundle (or archive) itself writable by
    /// others, or a folder above it that others may write without the sticky bit (/tmp is fine; a 0777 folder is not).
    /// </summary>
    public static void RefuseUntrustedLocation(string path, string source)
    {
        if (OperatingSystem.IsWindows()) return;
        var full = Path.GetFullPath(path);
        var node = Inspect(full);
        if (node.WritableByOthers)
            throw Untrusted(source, $"'{full}' may be written by every user");
        for (var dir = Path.GetDirectoryName(full); !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
        {
            var up = Inspect(dir);
            if (up.WritableByOthers && !up.Sticky)
                throw Untrusted(source, $"the folder '{dir}' above it may be written by every user, who could replace the bundle");
        }
    }

    public static LiveUpdateException Untrusted(string source, string why) => new("BundleLocationNotTrusted", ErrorKind.PermissionDenied,
        $"The bundle '{source}' is not trusted: {why}. Keep bundles where only their owner can write.", source);

    /// <summary>
    /// A new, empty folder only this user can enter (mode 0700, name unguessable): under the temporary folder, or
    /// under <paramref name="parent"/>, which must be a folder that no other user may write.
    /// </summary>
    public static string CreatePrivateFolder(string prefix, string? parent = null)
    {
        string dir;
        if (parent is null)
        {
            dir = Directory.CreateTempSubdirectory(prefix).FullName;
        }
        else
        {
            var up = Inspect(parent);
            if (up.Type != NodeType.Directory || (Native && up.Owner != CurrentUser) || (up.Mode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
                throw new LiveUpdateException("BundleFolderNotPrivate", ErrorKind.PermissionDenied,
                    $"The folder '{parent}' may be written by other users; a bundle's verified copy is made only where no one else can write.", parent);
            dir = Path.Combine(parent, prefix + Guid.NewGuid().ToString("N"));
            if (OperatingSystem.IsWindows()) Directory.CreateDirectory(dir);
            else Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        if (OperatingSystem.IsWindows()) return dir;
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var node = Inspect(dir);
        if (node.Type != NodeType.Directory || (Native && node.Owner != CurrentUser) || (node.Mode & (UnixFileMode)0x3F) != 0)
        {
            Directory.Delete(dir, recursive: true);
            throw new LiveUpdateException("BundleFolderNotPrivate", ErrorKind.PermissionDenied, $"The folder '{dir}' made to hold a bundle is not private to this user.", dir);
        }
        return dir;
    }

    /// <summary>Bytes free where a folder lies; null when the system does not say.</summary>
    public static long? FreeBytes(string folder)
    {
        try
        {
            return new DriveInfo(folder).AvailableFreeSpace;
        }
        catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
