using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using LiveUpdate.Engine.Backends.Host;
using LiveUpdate.Engine.Flow;
using Microsoft.Win32.SafeHandles;

namespace LiveUpdate.Engine.Backends;

/// <summary>
/// The module's own files in a system's folder (state, its temporary files, locks and owner files) opened without
/// following a link at their name (<c>O_NOFOLLOW</c>), and temporary files made new (<c>O_EXCL</c>) under a random
/// name: a link planted where one of them goes is refused (<c>LinkRefused</c>), never written through. Elsewhere
/// than on Linux the ordinary .NET calls are used.
/// </summary>
internal static class NoFollow
{
    [DllImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static extern int sys_flock(int fd, int operation);

    private const int LOCK_EX = 2, LOCK_NB = 4;

    /// <summary>
    /// Opens (or creates, mode 0600) a file for an exclusive lock, like <c>FileShare.None</c>: an <see cref="IOException"/>
    /// when another holder has it.
    /// </summary>
    public static FileStream OpenLocked(string path, bool create)
    {
        if (!OperatingSystem.IsLinux()) return new FileStream(path, create ? FileMode.OpenOrCreate : FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        var fd = Native.OpenAt(Native.AT_FDCWD, path, Native.O_RDWR | Native.O_NOFOLLOW | Native.O_NOCTTY | (create ? Native.O_CREAT : 0), 0x180, out var errno);
        if (fd < 0) throw Error(path, errno);
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (sys_flock(fd, LOCK_EX | LOCK_NB) != 0)
        {
            var e = Marshal.GetLastPInvokeError();
            handle.Dispose();
            throw new IOException($"'{path}' is locked by another holder (errno {e}).");
        }
        return new FileStream(handle, FileAccess.ReadWrite, 1);
    }

    /// <summary>Write, flush, rename: a new temporary file of a random name beside the target, never an existing one.</summary>
    public static void WriteAtomically(string path, string content)
    {
        var temp = path + ".tmp-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(6)).ToLowerInvariant();
        try
        {
            using (var fs = CreateNew(temp))
            {
                var bytes = Encoding.UTF8.GetBytes(content);
                fs.Write(bytes, 0, bytes.Length);
                fs.Flush(true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>Creates a new file (mode 0600); an existing file or link at the name is an error.</summary>
    public static FileStream CreateNew(string path)
    {
        if (!OperatingSystem.IsLinux()) return new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        var fd = Native.OpenAt(Native.AT_FDCWD, path, Native.O_WRONLY | Native.O_CREAT | Native.O_EXCL | Native.O_NOFOLLOW | Native.O_NOCTTY, 0x180, out var errno);
        if (fd < 0) throw Error(path, errno);
        return new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Write, 1);
    }

    /// <summary>A file's text, refused when the name is a link; null when it is not there.</summary>
    public static string? ReadText(string path)
    {
        if (!OperatingSystem.IsLinux()) return File.Exists(path) ? File.ReadAllText(path) : null;
        var fd = Native.OpenAt(Native.AT_FDCWD, path, Native.O_RDONLY | Native.O_NOFOLLOW | Native.O_NONBLOCK | Native.O_NOCTTY, 0, out var errno);
        if (fd < 0)
        {
            if (errno == Native.ENOENT) return null;
            throw Error(path, errno);
        }
        using var stream = new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Read, 1);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    private static Exception Error(string path, int errno) => errno switch
    {
        Native.ELOOP => new LiveUpdateException("LinkRefused", ErrorKind.PermissionDenied,
            $"'{path}' is a link; LiveUpdate never writes its state, lock or owner files through a link. Remove the link.", path),
        Native.EEXIST => new IOException($"'{path}' already exists."),
        Native.ENOENT => new DirectoryNotFoundException($"'{path}': a folder on the way is missing."),
        _ => new IOException($"'{path}' cannot be opened (errno {errno})."),
    };
}
