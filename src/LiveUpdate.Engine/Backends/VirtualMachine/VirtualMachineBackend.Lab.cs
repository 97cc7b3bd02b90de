using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Backends.Host;
using LiveUpdate.Engine.Flow;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.VirtualMachine;

public sealed partial class VirtualMachineBackend
{
    /// <summary>
    /// A lab: stops and undefines its domains, deletes its bridge, stops the libvirt daemon it started (and undoes
    /// what that needed) and deletes its folder. A real host: removes only the surrogates and files LiveUpdate made.
    /// </summary>
    public void RemoveLab(OperationContext context)
    {
        using (_store.Lock(StoreWait))
        {
            Use(context);
            VmState? s = null;
            try
            {
                s = _store.Load();
            }
            catch (LiveUpdateException e)
            {
                context.Logger.LogWarning("The state cannot be read ({Reason}); removing what the description shows", e.Message);
            }
            context.Logger.LogInformation("Removing {What} {Path}", Description.Lab ? "lab" : "what LiveUpdate made on host", _store.Root);
            _libvirt ??= LibvirtConnection.TryOpen(Description.Uri!, out _);
            if (_libvirt is not null)
            {
                var domains = (s?.Partitions ?? new List<VmPartition>()).Where(p => Description.Lab || p.Defined).Select(p => p.Domain)
                    .Concat(Description.Lab ? Description.Partitions!.Select(p => p.Domain!) : Array.Empty<string>()).Distinct().ToList();
                foreach (var d in domains.Where(Libvirt.Exists))
                {
                    if (Libvirt.Running(d)) Libvirt.Destroy(d);
                    Libvirt.Undefine(d);
                }
                foreach (var d in domains)
                {
                    var log = Path.Combine("/var/log/libvirt/qemu", d + ".log");
                    if (Description.Lab && File.Exists(log)) File.Delete(log);
                }
            }
            var ns = s?.Daemon?.Namespace ?? VmDaemon.DaemonNamespace();
            if (s?.BridgeCreated == true && ns is not null && HostTools.NamespaceExists(ns))
                _runner.Probe(VmPrerequisites.Tool("ip"), new[] { "-n", ns!, "link", "delete", Description.Bridge! }, context.Logger);
            if (s?.Daemon is { } daemon) VmDaemon.Stop(daemon, _libvirt, context.Logger);
            else _libvirt?.Dispose();
            _libvirt = null;
            if (Description.Lab) Directory.Delete(_store.Root, recursive: true);
            else
            {
                File.Delete(_store.StatePath);
                foreach (var dir in new[] { BootDir, Scratch, Path.Combine(_store.Root, "console") })
                    if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            }
        }
    }
}
