using System;
using System.Collections.Generic;
using System.Linq;

namespace LiveUpdate.Engine.Backends.Host;

/// <summary>
/// Commands run inside an untrusted tree (a clone being updated): a container of the tree itself, never the host's
/// tools pointed at it. systemd-nspawn gives the command a new mount, PID, IPC and UTS namespace with the tree as its
/// root, a private /proc, a read-only /sys and a /dev of its own with the basic nodes; no network; nothing of the host
/// is bound in (no resolv.conf, time zone or journal), so a link in the tree resolves inside the tree and a file
/// written under /dev lands in the container's own /dev, which goes with it.
/// </summary>
internal sealed partial class HostTools
{
    /// <summary>
    /// Runs <paramref name="argv"/> (a path inside the tree and its arguments) in a container of the tree at
    /// <paramref name="root"/>; <paramref name="standardInputFile"/> (a host file the caller trusts) is its standard input.
    /// </summary>
    public CommandResult RunInTree(string root, string machine, IReadOnlyList<string> argv, string purpose, string? standardInputFile = null, TimeSpan? timeout = null)
    {
        var args = new List<string>
        {
            "--quiet", "--register=no", "--keep-unit", "--as-pid2", "--directory=" + root, "--machine=" + machine,
            "--private-network", "--resolv-conf=off", "--timezone=off", "--link-journal=no", "--console=pipe",
            "--setenv=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "--setenv=DEBIAN_FRONTEND=noninteractive", "--",
        };
        args.AddRange(argv);
        return _runner.Run(Prerequisites.Tool("systemd-nspawn"), args, Log, timeout ?? TimeSpan.FromMinutes(10), purpose, standardInputFile, Cancellation);
    }
}
