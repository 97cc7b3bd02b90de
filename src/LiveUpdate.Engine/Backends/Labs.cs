using System.IO;
using LiveUpdate.Engine.Backends.Linux;
using LiveUpdate.Engine.Backends.Simulated;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends;

/// <summary>Opens a lab of whichever backend made it.</summary>
public static class Labs
{
    /// <param name="path">The lab or host folder.</param>
    /// <param name="force">Linux: let the backend use disks that hold a file system it did not make.</param>
    public static ILiveUpdateBackend Open(string path, bool force = false)
    {
        var full = Path.GetFullPath(path);
        if (!Directory.Exists(full))
            throw new LiveUpdateException("NotALab", ErrorKind.ObjectNotFound, $"The lab folder '{path}' does not exist.", path);
        if (SimulatedBackend.IsLab(full)) return SimulatedBackend.Open(full);
        if (LinuxBackend.IsHost(full)) return LinuxBackend.Open(full, force);
        throw new LiveUpdateException("NotALab", ErrorKind.InvalidArgument, $"'{path}' is not a LiveUpdate lab: it holds no lab state.", path);
    }

    /// <summary>Opens a lab only to remove it: a Linux lab is not attached or booted first, so a broken one can still be removed.</summary>
    public static ILiveUpdateBackend OpenForRemoval(string path)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full) && LinuxBackend.IsHost(full)) return LinuxBackend.OpenForRemoval(full);
        return Open(path);
    }
}
