using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Flow;
using Microsoft.Extensions.Logging;

using LiveUpdate.Engine.Backends.Host;

namespace LiveUpdate.Engine.Backends.Containers;

/// <summary>Removal: everything the backend made on the host, and a lab's folder.</summary>
public sealed partial class ContainerBackend
{
    public void RemoveLab(OperationContext context)
    {
        using (_store.Lock(StoreWait))
        {
            Use(context);
            ContainerState? s = null;
            try
            {
                s = _store.Load();
            }
            catch (LiveUpdateException e)
            {
                context.Logger.LogWarning("The state cannot be read ({Reason}); removing what the description and the host show", e.Message);
            }
            context.Logger.LogInformation("Removing {What} {Path}", Description.Lab ? "lab" : "everything LiveUpdate made on host", _store.Root);
            foreach (var p in s?.Partitions ?? new List<ContainerPartition>()) StopContainer(p);
            var prefix = "--machine=lu" + Description.Id + "p";
            foreach (var pid in HostTools.Processes().Where(x => HostTools.CommandLine(x).Split(' ').Any(a => a.StartsWith(prefix, StringComparison.Ordinal))).ToList())
                HostTools.StopProcess(pid, TimeSpan.FromSeconds(15));
            _tools.Unmount(Path.Combine(_store.Root, "mnt"));
            foreach (var ns in Directory.Exists("/run/netns") ? Directory.GetFiles("/run/netns").Select(Path.GetFileName).Where(n => n!.StartsWith("lu" + Description.Id + "p", StringComparison.Ordinal)).ToList() : new List<string?>())
                _tools.DeleteNamespace(ns!);
            var n = Description.Network!;
            if (n.Namespace is not null && (n.CreateNamespace && (s?.NamespaceCreated ?? Description.Lab))) _tools.DeleteNamespace(n.Namespace);
            else if (n.CreateBridge && (s?.BridgeCreated ?? false) && _tools.LinkExists(n.Namespace, n.Bridge!)) _tools.Ip(n.Namespace, "link", "delete", n.Bridge!);
            if (n.Namespace is not null)
            {
                foreach (var p in s?.Partitions ?? new List<ContainerPartition>())
                    if (HostTools.NamespaceExists(n.Namespace)) _tools.DeleteLink(n.Namespace, HostLink(p));
            }
            foreach (var d in Description.Disks!)
            {
                if (d.File is null) continue;
                var file = Path.Combine(_store.Root, d.File);
                var loop = _tools.LoopOf(file);
                if (loop is null) continue;
                _tools.Probe("btrfs", "device", "scan", "--forget", loop);
                _tools.DetachLoop(loop);
            }
            if (Description.Lab)
            {
                Directory.Delete(_store.Root, recursive: true);
            }
            else
            {
                File.Delete(_store.StatePath);
                if (Directory.Exists(Path.Combine(_store.Root, "mnt"))) Directory.Delete(Path.Combine(_store.Root, "mnt"), recursive: true);
                if (Directory.Exists(RunDir)) Directory.Delete(RunDir, recursive: true);
            }
        }
    }
}
