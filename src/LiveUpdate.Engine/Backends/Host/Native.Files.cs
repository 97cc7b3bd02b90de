using System;
using System.Runtime.InteropServices;

namespace LiveUpdate.Engine.Backends.Host;

/// <summary>
/// The file system calls behind <see cref="SafeTree"/> and the module's own files (NoFollow): openat2 (Linux 5.6) with
/// openat as the fallback, mkdirat, renameat, unlinkat, fsync, statx. The open flags differ between architectures.
/// </summary>
internal static partial class Native
{
    private static readonly bool Arm = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm;

    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_NOCTTY = 0x100, O_TRUNC = 0x200, O_NONBLOCK = 0x800;
    public const int O_CLOEXEC = 0x80000, O_PATH = 0x200000;
    public static int O_DIRECTORY => Arm ? 0x4000 : 0x10000;
    public static int O_NOFOLLOW => Arm ? 0x8000 : 0x20000;

    public const ulong RESOLVE_NO_XDEV = 0x01, RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_NO_SYMLINKS = 0x04, RESOLVE_BENEATH = 0x08;
    public const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_EMPTY_PATH = 0x1000;
    public const int ENOENT = 2, EINTR = 4, EAGAIN = 11, EEXIST = 17, EXDEV = 18, ENOTDIR = 20, EISDIR = 21, ENOSYS = 38, ENOTEMPTY = 39, ELOOP = 40, E2BIG = 7;
    private const long SYS_openat2 = 437;

    [StructLayout(LayoutKind.Sequential)]
    private struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    [DllImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static extern long sys_openat2(long number, int dirfd, string path, ref OpenHow how, nuint size);

    [DllImport("libc", EntryPoint = "openat", SetLastError = true)]
    private static extern int sys_openat(int dirfd, string path, int flags, uint mode);

    [DllImport("libc", EntryPoint = "mkdirat", SetLastError = true)]
    private static extern int sys_mkdirat(int dirfd, string path, uint mode);

    [DllImport("libc", EntryPoint = "renameat", SetLastError = true)]
    private static extern int sys_renameat(int olddirfd, string oldpath, int newdirfd, string newpath);

    [DllImport("libc", EntryPoint = "unlinkat", SetLastError = true)]
    private static extern int sys_unlinkat(int dirfd, string path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static extern int sys_fsync(int fd);

    [DllImport("libc", EntryPoint = "fchmod", SetLastError = true)]
    private static extern int sys_fchmod(int fd, uint mode);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    public static extern int Close(int fd);

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int sys_statx(int dirfd, string path, int flags, uint mask, byte[] buffer);

    /// <summary>False once the kernel said it has no openat2; the callers then walk component by component.</summary>
    internal static bool HasOpenat2 { get; set; } = true;

    /// <summary>openat2; -1 with <paramref name="errno"/> set on failure (ENOSYS where the kernel lacks it).</summary>
    public static int OpenAt2(int dirfd, string path, int flags, uint mode, ulong resolve, out int errno)
    {
        var how = new OpenHow { Flags = (ulong)(uint)(flags | O_CLOEXEC), Mode = (flags & O_CREAT) != 0 ? mode : 0, Resolve = resolve };
        while (true)
        {
            var fd = sys_openat2(SYS_openat2, dirfd, path, ref how, (nuint)Marshal.SizeOf<OpenHow>());
            errno = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
            if (fd >= 0 || errno != EINTR) return (int)fd;
        }
    }

    public static int OpenAt(int dirfd, string path, int flags, uint mode, out int errno)
    {
        while (true)
        {
            var fd = sys_openat(dirfd, path, flags | O_CLOEXEC, mode);
            errno = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
            if (fd >= 0 || errno != EINTR) return fd;
        }
    }

    public static int MkdirAt(int dirfd, string name, uint mode) => sys_mkdirat(dirfd, name, mode) == 0 ? 0 : Marshal.GetLastPInvokeError();
    public static int RenameAt(int dirfd, string from, string to) => sys_renameat(dirfd, from, dirfd, to) == 0 ? 0 : Marshal.GetLastPInvokeError();
    public static int UnlinkAt(int dirfd, string name, bool directory) => sys_unlinkat(dirfd, name, directory ? AT_REMOVEDIR : 0) == 0 ? 0 : Marshal.GetLastPInvokeError();
    public static int Fsync(int fd) => sys_fsync(fd) == 0 ? 0 : Marshal.GetLastPInvokeError();
    public static int Fchmod(int fd, uint mode) => sys_fchmod(fd, mode) == 0 ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>What statx says about a file: its type and permission bits, owner, size, inode, its own device and, for a device node, the device it is.</summary>
    public readonly record struct FileStat(uint Mode, uint Uid, uint Gid, long Size, ulong Inode, uint DevMajor, uint DevMinor, uint RdevMajor, uint RdevMinor)
    {
        public const uint TypeMask = 0xF000, Regular = 0x8000, Directory = 0x4000, Link = 0xA000, Block = 0x6000, Character = 0x2000, Fifo = 0x1000, Socket = 0xC000;
        public uint Type => Mode & TypeMask;
        public bool IsRegular => Type == Regular;
        public bool IsDirectory => Type == Directory;
        public bool IsLink => Type == Link;
        public bool IsBlockDevice => Type == Block;
        public string Device => $"{DevMajor}:{DevMinor}";
        public string DeviceNumber => $"{RdevMajor}:{RdevMinor}";
    }

    /// <summary>statx of a path (relative to <paramref name="dirfd"/>; "" with AT_EMPTY_PATH for the descriptor itself); null with errno on failure.</summary>
    public static FileStat? Stat(int dirfd, string path, int flags, out int errno)
    {
        var buffer = new byte[256];
        if (sys_statx(dirfd, path, flags, 0x7ff, buffer) != 0)
        {
            errno = Marshal.GetLastPInvokeError();
            return null;
        }
        errno = 0;
        return new FileStat(BitConverter.ToUInt16(buffer, 28), BitConverter.ToUInt32(buffer, 20), BitConverter.ToUInt32(buffer, 24), (long)BitConverter.ToUInt64(buffer, 40), BitConverter.ToUInt64(buffer, 32),
            BitConverter.ToUInt32(buffer, 136), BitConverter.ToUInt32(buffer, 140), BitConverter.ToUInt32(buffer, 128), BitConverter.ToUInt32(buffer, 132));
    }

    /// <summary>statx of an absolute path, following links (the host's own paths) or not.</summary>
    public static FileStat? Stat(string path, bool followLinks = true) => Stat(AT_FDCWD, path, followLinks ? 0 : AT_SYMLINK_NOFOLLOW, out _);

    /// <summary>statx of a descriptor into a raw buffer (with the mount id, STATX_MNT_ID); false on failure.</summary>
    public static bool StatRaw(int fd, byte[] buffer) => sys_statx(fd, "", AT_EMPTY_PATH, 0x17ff, buffer) == 0;

    [DllImport("libc", EntryPoint = "readlinkat", SetLastError = true)]
    private static extern nint sys_readlinkat(int dirfd, string path, byte[] buffer, nuint size);

    /// <summary>The target of a link (relative to <paramref name="dirfd"/>); null when it is not a link.</summary>
    public static string? ReadLinkAt(int dirfd, string name)
    {
        var buffer = new byte[4096];
        var n = sys_readlinkat(dirfd, name, buffer, (nuint)buffer.Length);
        return n < 0 ? null : System.Text.Encoding.UTF8.GetString(buffer, 0, (int)n);
    }
}
