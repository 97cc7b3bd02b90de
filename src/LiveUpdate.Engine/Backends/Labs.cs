using System.IO;
using LiveUpdate.Engine.Backends.Containers;
using LiveUpdate.Engine.Backends.Power;
using LiveUpdate.Engine.Backends.Simulated;
using LiveUpdate.Engine.Backends.VirtualMachine;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends;

/// <summary>Opens a lab of whichever backend made it.</summary>
public static class Labs
{
    /// <summary>
    /// Opens a lab; <paramref name="verify"/> false opens one whose state may be damaged (to remove it: a Linux lab is
    /// then not attached or booted first). <paramref name="force"/> (Linux) lets the backend use described disks that
    /// hold a file system it did not make.
    /// </summary>
    public static ILiveUpdateBackend Open(string path, bool verify = true, bool force = false)
    {
        var full = Path.GetFullPath(path);
        if (!Directory.Exists(full))
            throw new LiveUpdateException("NotALab", ErrorKind.ObjectNotFound, $"The lab folder '{path}' does not exist.", path);
        if (SimulatedBackend.IsLab(full)) return SimulatedBackend.Open(full, verify);
        if (PowerBackend.IsSystem(full)) return PowerBackend.Open(full);
        if (VirtualMachineBackend.IsHost(full)) return verify ? VirtualMachineBackend.Open(full) : VirtualMachineBackend.OpenForRemoval(full);
        if (ContainerBackend.IsHost(full)) return verify ? ContainerBackend.Open(full, force) : ContainerBackend.OpenForRemoval(full);
        throw new LiveUpdateException("NotALab", ErrorKind.InvalidArgument, $"'{path}' is not a LiveUpdate lab: it holds no lab state.", path);
    }
}
