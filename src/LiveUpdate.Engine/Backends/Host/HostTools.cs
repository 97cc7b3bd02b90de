using System.Threading;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.Host;

/// <summary>One line of /proc/self/mountinfo.</summary>
internal sealed record MountEntry(string MountPoint, string Source, string FileSystem, string Root);

/// <summary>
/// The host's tools in the model's service: loop devices, btrfs file systems and subvolumes, mounts, network
/// namespaces, processes; one file per concern. Every command goes through the <see cref="CommandRunner"/> with an argument vector.
/// </summary>
internal sealed partial class HostTools
{
    private readonly CommandRunner _runner = new();

    public ILogger Log { get; set; } = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    public CancellationToken Cancellation { get; set; }

    public CommandResult Run(string tool, params string[] args) => _runner.Run(Prerequisites.Tool(tool), args, Log, cancellation: Cancellation);
    public CommandResult RunFor(string purpose, string tool, params string[] args) => _runner.Run(Prerequisites.Tool(tool), args, Log, purpose: purpose, cancellation: Cancellation);
    public CommandResult Probe(string tool, params string[] args) => _runner.Probe(Prerequisites.Tool(tool), args, Log, cancellation: Cancellation);
    public CommandResult RunWithInput(string inputFile, string tool, params string[] args) =>
        _runner.Run(Prerequisites.Tool(tool), args, Log, standardInputFile: inputFile, cancellation: Cancellation);
}
