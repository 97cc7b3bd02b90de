using System;
using System.IO;

namespace LiveUpdate.Engine.Backends.VirtualMachine;

/// <summary>Folders the backend creates are its own: owner-only modes.</summary>
internal static class VmFiles
{
    public static void PrivateFolder(string dir)
    {
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(dir);
        else Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public static void Mode(string file, UnixFileMode mode)
    {
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(file, mode);
    }
}

/// <summary>Whether this machine runs guests with KVM: probed once per machine by the lab (a guest that reaches user space in time) and cached.</summary>
internal static class VmAccelerator
{
    public const string CacheFile = "/var/cache/liveupdate/accelerator";

    public static bool Kvm => File.Exists(CacheFile) && File.ReadAllText(CacheFile).Trim() == "kvm";
}
