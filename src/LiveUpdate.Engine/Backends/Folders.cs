using System;
using System.IO;
using LiveUpdate.Engine.Backends.Host;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends;

/// <summary>
/// The folders that hold a system's state (a lab, a host's folder, journals, locks, mounts): the module makes them
/// owner-only (0700), and an existing one that another user can write is refused, since whoever can write there could
/// plant links and files where the state, the locks and the disk files go.
/// </summary>
public static class Folders
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Makes a folder and any missing parent owner-only; an existing folder keeps its mode.</summary>
    public static void CreateOwnerOnly(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
            return;
        }
        if (Directory.Exists(path)) return;
        Directory.CreateDirectory(path, OwnerOnly);
        File.SetUnixFileMode(path, OwnerOnly);
    }

    /// <summary>Why another user could change what is in a folder, or null when only its owner (this user) can.</summary>
    public static string? Unsafe(string path)
    {
        if (!OperatingSystem.IsLinux() || !Directory.Exists(path)) return null;
        var s = Native.Stat(path);
        if (s is null) return null;
        var mode = s.Value.Mode & 0xfff;
        var euid = Native.EffectiveUid;
        if (s.Value.Uid != euid) return $"it belongs to user {s.Value.Uid}, not to this user ({euid})";
        if ((mode & 0x2) != 0) return $"every user can write it (mode {Convert.ToString(mode, 8)})";
        if ((mode & 0x10) != 0 && s.Value.Gid != Native.EffectiveGid) return $"the members of group {s.Value.Gid} can write it (mode {Convert.ToString(mode, 8)})";
        return null;
    }

    /// <summary>Refuses a folder another user can write as the place of a system's state.</summary>
    public static void RequireSafe(string path, string what)
    {
        var why = Unsafe(path);
        if (why is not null)
            throw new LiveUpdateException("FolderNotSafe", ErrorKind.PermissionDenied,
                $"'{path}' cannot be {what}: {why}. LiveUpdate keeps a system's state only in a folder that no other user can write (chmod go-w, chown).", path);
    }
}
