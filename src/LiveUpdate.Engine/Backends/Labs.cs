using System.IO;
using LiveUpdate.Engine.Backends.Simulated;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends;

/// <summary>Opens a lab of whichever backend made it.</summary>
public static class Labs
{
    public static ILiveUpdateBackend Open(string path)
    {
        var full = Path.GetFullPath(path);
        if (!Directory.Exists(full))
            throw new LiveUpdateException("NotALab", ErrorKind.ObjectNotFound, $"The lab folder '{path}' does not exist.", path);
        if (SimulatedBackend.IsLab(full)) return SimulatedBackend.Open(full);
        throw new LiveUpdateException("NotALab", ErrorKind.InvalidArgument, $"'{path}' is not a LiveUpdate lab: it holds no lab state.", path);
    }
}
