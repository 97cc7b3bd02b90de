using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.Power;

// Partitions: the surrogate made from the original's profile, its VIOS adapter and mappings, booted from the
// clone; its removal; and the take-over of the original's name, address, host name and disks.
public sealed partial class PowerBackend
{
    private static readonly TimeSpan BootWait = TimeSpan.FromMinutes(20);
    private static readonly TimeSpan ShutdownWait = TimeSpan.FromMinutes(10);
    private static readonly string[] ProfileKeys =
    {
        "min_mem", "desired_mem", "max_mem", "mem_mode", "proc_mode", "min_proc_units", "desired_proc_units", "max_proc_units", "min_procs", "desired_procs",
        "max_procs", "sharing_mode", "uncap_weight", "max_virtual_slots", "virtual_eth_adapters", "boot_mode",
    };

    // ------------------------------------------------------------------ VIOS mappings

    private Dictionary<string, string> ViosNamesByPvid() => Read(HmcScope, "vios lspv", () =>
        AixCommands.ParseDisks(Vios(HmcCommands.ViosDisks())).ToDictionary(d => d.Pvid, d => d.Name, StringComparer.Ordinal));

    private VhostMapping? Vhost(int slot) => Read(HmcScope, "lsmap", () => HmcCommands.ParseMappings(Vios(HmcCommands.ViosMappings()))).FirstOrDefault(m => m.Slot == slot);

    private IReadOnlyList<ScsiAdapter> ScsiAdapters() => Read(HmcScope, "scsi", () => HmcCommands.ParseScsiAdapters(Hmc(HmcCommands.ScsiAdapters(Sys))));

    private int ServerSlotOf(string partition) => ScsiAdapters()
        .FirstOrDefault(a => Same(a.Partition, ViosName) && a.Type == "server" && Same(a.RemotePartition, partition))?.Slot
        ?? throw new LiveUpdateException("ViosAdapterNotFound", ErrorKind.ObjectNotFound, $"{ViosName} has no virtual SCSI server adapter for {partition}.", partition);

    /// <summary>Maps disks (by PVID) to the server adapter in a VIOS slot, those not mapped there yet.</summary>
    private void MapDisks(int slot, IEnumerable<string> pvids)
    {
        var vhost = Vhost(slot) ?? throw new LiveUpdateException("ViosAdapterNotFound", ErrorKind.ObjectNotFound, $"{ViosName} shows no vhost adapter in slot {slot}.", slot);
        var names = ViosNamesByPvid();
        foreach (var pvid in pvids)
        {
            var disk = names.GetValueOrDefault(pvid) ?? throw new LiveUpdateException("DiskNotVisible", ErrorKind.DeviceError, $"{ViosName} does not see the disk with PVID {pvid}.", pvid);
            if (vhost.Targets.Any(t => t.Backing == disk)) continue;
            ChangeVios(HmcCommands.ViosMap(disk, vhost.Vhost, $"lu{slot.ToString(CultureInfo.InvariantCulture)}{disk}"), $"mapping {disk} to {vhost.Vhost} (mkvdev)");
        }
    }

    private void MapDisks(SurrogateRecord sur, IEnumerable<string> pvids) => MapDisks(sur.ViosSlot, pvids);

    private void UnmapDisks(SurrogateRecord sur, IEnumerable<string> pvids)
    {
        var vhost = Vhost(sur.ViosSlot);
        if (vhost is null) return;
        var names = ViosNamesByPvid();
        var disks = pvids.Select(p => names.GetValueOrDefault(p)).Where(d => d is not null).ToHashSet();
        foreach (var t in vhost.Targets.Where(t => disks.Contains(t.Backing)))
            ChangeVios(HmcCommands.ViosUnmap(t.Vtd), $"unmapping {t.Backing} from {vhost.Vhost} (rmvdev)");
    }

    /// <summary>Removes a VIOS server adapter with its mappings (rmdev -recursive, then the HMC's chhwres) and saves the VIOS profile.</summary>
    private void RemoveServerAdapter(int slot)
    {
        var vhost = Vhost(slot);
        if (vhost is not null) ChangeVios(HmcCommands.ViosRemoveAdapter(vhost.Vhost), $"removing {vhost.Vhost} and its mappings (rmdev)");
        var adapters = ScsiAdapters();
        if (adapters.Any(a => Same(a.Partition, ViosName) && a.Slot == slot))
            ChangeHmcOnly(HmcCommands.RemoveServerAdapter(Sys, ViosName, slot), $"removing the server adapter in slot {slot} of {ViosName} (chhwres)");
        ChangeHmcOnly(HmcCommands.SaveProfile(Sys, ViosName, ViosProfile()), "saving the VIOS profile");
    }

    private string ViosProfile() => HmcPartitions().FirstOrDefault(l => Same(l.Name, ViosName))?.Profile
        ?? throw new LiveUpdateException("ViosNotFound", ErrorKind.ObjectNotFound, $"{Sys} has no partition named {ViosName} (the VIOS of the description).", ViosName);

    private string LparState(string name) => HmcPartitions().FirstOrDefault(l => Same(l.Name, name))?.State ?? "";

    private void ShutDown(string name, OperationContext context)
    {
        if (LparState(name) is "Not Activated" or "") return;
        context.Logger.LogInformation("Shutting down partition {Partition}", name);
        var endpoint = Endpoint(name);
        ChangeHmc(HmcCommands.ShutDown(Sys, name), $"shutting down {name} (chsysstate)");
        if (!WaitFor(() => LparState(name) == "Not Activated", ShutdownWait, TimeSpan.FromMilliseconds(100)))
            throw new LiveUpdateException("PartitionDidNotStop", ErrorKind.OperationStopped, $"{name} is still {LparState(name)} after {ShutdownWait.TotalMinutes} minutes.", name);
        _ssh.Forget(endpoint);
        Invalidate(name);
    }

    // ------------------------------------------------------------------ the surrogate

    public LogicalPartition StartSurrogate(string partition, OperationContext context)
    {
        var name = Steps.SurrogateName(partition);
        Update(context, s =>
        {
            var clone = s.CloneOf(partition)!;
            if (LparState(name) == "Running" && s.Surrogate(name) is not null && Same(clone.BootedAs, name)) return;
            Fault(Steps.Boot, FaultTiming.Before);
            var rec = s.Surrogate(name) ?? NewSurrogate(s, partition, name);
            Save(s);
            var lpars = HmcPartitions();
            var original = lpars.First(l => Same(l.Name, partition));
            var profile = HmcCommands.Pairs(Hmc(HmcCommands.Profiles(Sys, partition)), "reading the profile of " + partition)
                .FirstOrDefault(p => p.GetValueOrDefault("name") == original.Profile)
                ?? throw new LiveUpdateException("ProfileNotFound", ErrorKind.ObjectNotFound, $"{partition} has no profile named {original.Profile}.", partition);
            var clientSlot = ClientSlot(profile, partition);
            if (!lpars.Any(l => Same(l.Name, name)))
            {
                var attrs = new List<KeyValuePair<string, string>> { new("name", name), new("profile_name", original.Profile), new("lpar_env", "aixlinux") };
                attrs.AddRange(ProfileKeys.Where(profile.ContainsKey).Select(k => new KeyValuePair<string, string>(k, profile[k])));
                attrs.Add(new("virtual_scsi_adapters", $"{clientSlot}/client//{ViosName}/{rec.ViosSlot}/1"));
                context.Logger.LogInformation("Creating partition {Surrogate} from the profile {Profile} of {Partition}", name, original.Profile, partition);
                ChangeHmcOnly(HmcCommands.CreatePartition(Sys, attrs), $"creating {name} (mksyscfg)");
            }
            if (!ScsiAdapters().Any(a => Same(a.Partition, ViosName) && a.Slot == rec.ViosSlot))
                ChangeHmcOnly(HmcCommands.AddServerAdapter(Sys, ViosName, rec.ViosSlot, name, clientSlot), $"adding a virtual SCSI server adapter for {name} to {ViosName} (chhwres)");
            ChangeVios(HmcCommands.ViosConfigure(), "configuring the new adapter on the VIOS (cfgdev)");
            var cloneDisks = DisksOn(partition).Where(d => d.VolumeGroup == "altinst_rootvg").ToList();
            MapDisks(rec, cloneDisks.Select(d => d.Pvid));
            ChangeHmcOnly(HmcCommands.SaveProfile(Sys, ViosName, ViosProfile()), "saving the VIOS profile");
            Fault(Steps.Boot, FaultTiming.During);
            if (LparState(name) != "Running")
            {
                PrepareIdentity(s, partition, rec, cloneDisks[0].Name, context);
                context.Logger.LogInformation("Activating {Surrogate} from the clone on {Disks}", name, Join(cloneDisks.Select(d => d.Name)));
                ChangeHmc(HmcCommands.PowerOn(Sys, name, original.Profile), $"activating {name} (chsysstate -o on)");
            }
            WaitForBoot(s, partition, name);
            clone.State = nameof(CloneState.Booted);
            clone.BootedAs = name;
        });
        Fault(Steps.Boot, FaultTiming.After);
        return Inventory().Partitions.First(p => Same(p.Name, name));
    }

    private SurrogateRecord NewSurrogate(PowerState s, string partition, string name)
    {
        var taken = s.Surrogates.Select(x => x.Address).ToHashSet();
        var address = Description.SurrogateAddresses!.FirstOrDefault(a => !taken.Contains(a))
            ?? throw new LiveUpdateException("NoSurrogateAddress", ErrorKind.ResourceUnavailable,
                $"No address is free for the surrogate of {partition}: name one more in surrogateAddresses of {PowerDescription.FileName}.", partition);
        var adapters = ScsiAdapters();
        var used = adapters.Where(a => Same(a.Partition, ViosName)).Select(a => a.Slot).Concat(s.Surrogates.Select(x => x.ViosSlot)).DefaultIfEmpty(10).Max();
        var rec = new SurrogateRecord { Name = name, Of = partition, Address = address, ViosSlot = used + 1 };
        s.Surrogates.Add(rec);
        return rec;
    }

    private int ClientSlot(Dictionary<string, string> profile, string partition)
    {
        var list = HmcCommands.Split(profile.GetValueOrDefault("virtual_scsi_adapters") ?? "") ?? new List<string>();
        foreach (var spec in list)
        {
            var f = spec.Split('/');
            if (f.Length == 6 && f[1] == "client" && Same(f[3], ViosName) && int.TryParse(f[0], NumberStyles.None, CultureInfo.InvariantCulture, out var slot)) return slot;
        }
        throw new LiveUpdateException("ViosAdapterNotFound", ErrorKind.ObjectNotFound, $"The profile of {partition} has no virtual SCSI client adapter served by {ViosName}.", partition);
    }

    /// <summary>Gives the clone a host name and address of its own (in its ODM, from the original), without the applications' addresses.</summary>
    private void PrepareIdentity(PowerState s, string partition, SurrogateRecord rec, string disk, OperationContext context)
    {
        var d = Described(partition);
        var host = ReadPartition(partition).HostName;
        var running = AixCommands.ParseOsLevel(On(partition, AixCommands.OsLevel()));
        var level = OsLevel.TryParse(s.CloneLevels.GetValueOrDefault(partition), out var l) ? l! : running;
        context.Logger.LogInformation("Giving the clone of {Partition} the host name {Host} and the address {Address} until it takes over", partition, host + "-sur", rec.Address);
        Change(partition, AixCommands.Wake(disk, level > running), "waking the clone up (alt_rootvg_op -W)");
        try
        {
            Change(partition, AixCommands.InClone(AixCommands.SetHostName(host + "-sur", permanentOnly: true)), "setting the clone's host name");
            Change(partition, AixCommands.InClone(AixCommands.SetAddress(d.Interface!, rec.Address, d.Netmask!, permanentOnly: true)), "setting the clone's address");
            foreach (var a in Description.Applications!.Where(a => Same(a.Partition, partition)))
                Change(partition, AixCommands.InClone(AixCommands.DeleteAlias(d.Interface!, a.ServiceAddress!, a.Netmask!, permanentOnly: true)), $"removing {a.Name}'s address from the clone");
        }
        finally
        {
            Change(partition, AixCommands.Sleep(disk), "putting the clone to sleep (alt_rootvg_op -S)");
        }
    }

    private void WaitForBoot(PowerState s, string partition, string name)
    {
        if (!WaitFor(() => LparState(name) == "Running", BootWait, TimeSpan.FromMilliseconds(200)))
            throw new LiveUpdateException("SurrogateDidNotBoot", ErrorKind.OperationStopped, $"{name} is {LparState(name)} after {BootWait.TotalMinutes} minutes.", name);
        OsLevel? level = null;
        LiveUpdateException? last = null;
        if (!WaitFor(() =>
            {
                try
                {
                    level = AixCommands.ParseOsLevel(On(name, AixCommands.OsLevel()));
                    return true;
                }
                catch (LiveUpdateException e) when (e.ErrorId is "SshConnectFailed" or "SshConnectionLost")
                {
                    last = e;
                    return false;
                }
            }, BootWait, TimeSpan.FromMilliseconds(200)))
            throw new LiveUpdateException("SurrogateDidNotAnswer", ErrorKind.OperationStopped, $"{name} runs but does not answer on SSH: {last?.Message}", name);
        var expected = OsLevel.TryParse(s.CloneLevels.GetValueOrDefault(partition), out var e) ? e : null;
        if (expected is not null && level != expected)
            throw new LiveUpdateException("SurrogateLevelMismatch", ErrorKind.InvalidData, $"{name} booted at {level}; its clone was read back at {expected}.", name);
    }

    public void RemoveSurrogate(string surrogate, OperationContext context) => Update(context, s => RemoveSurrogate(s, surrogate, context));

    private void RemoveSurrogate(PowerState s, string surrogate, OperationContext context)
    {
        var rec = s.Surrogate(surrogate);
        var stranded = s.Applications.FirstOrDefault(a => Same(a.Partition, surrogate));
        if (stranded is not null)
            throw new LiveUpdateException("SurrogateHasApplications", ErrorKind.InvalidOperation, $"{stranded.Name} runs on {surrogate}; move it back before the surrogate is removed.", surrogate);
        context.Logger.LogInformation("Removing partition {Surrogate}, its VIOS adapter and mappings", surrogate);
        ShutDown(surrogate, context);
        if (rec is not null) RemoveServerAdapter(rec.ViosSlot);
        if (LparState(surrogate) != "") ChangeHmc(HmcCommands.Remove(Sys, surrogate), $"removing {surrogate} (rmsyscfg)");
        var of = rec?.Of ?? surrogate.Replace("_surrogate", "");
        if (s.CloneOf(of) is { } c && Same(c.BootedAs, surrogate))
        {
            c.State = c.AppliedBundles.Count > 0 ? nameof(CloneState.Updated) : nameof(CloneState.Cloned);
            c.BootedAs = null;
        }
        if (s.MirrorOf(of) is { } m && Same(m.ImportedInto, surrogate))
        {
            m.State = nameof(MirrorState.Synchronized);
            m.ImportedInto = null;
        }
        if (rec is not null) s.Surrogates.Remove(rec);
        Save(s);
    }

    // ------------------------------------------------------------------ the take-over

    public LogicalPartition TakeOver(string original, string surrogate, OperationContext context)
    {
        Update(context, s =>
        {
            var rec = s.Surrogate(surrogate);
            if (rec is null)
            {
                if (LparState(original) != "" && s.CloneOf(original) is null) return;
                throw new LiveUpdateException("PartitionNotFound", ErrorKind.ObjectNotFound, $"There is no surrogate named '{surrogate}'.", surrogate);
            }
            Fault(Steps.TakeOver, FaultTiming.Before);
            context.Logger.LogInformation("{Surrogate} takes over the name, address and host name of {Partition}; the old rootvg is kept as old_rootvg", surrogate, original);
            void Part(string part, Action work)
            {
                if (rec.TakeOverDone.Contains(part)) return;
                work();
                rec.TakeOverDone.Add(part);
                Save(s);
            }
            Part("Mirror", () =>
            {
                var disks = s.ClaimsOf(original, "Mirror").Select(c => c.Disk).ToList();
                UnmirrorClaimed(s, original, disks);
                ClearClaimed(s, original, "Mirror", disks, context);
                s.Mirrors.RemoveAll(m => Same(m.Partition, original));
            });
            Part("Stop", () =>
            {
                if (LparState(original) == "Running")
                {
                    var f = ReadPartition(original);
                    rec.OldRootPvids = f.Disks.Where(d => d.VolumeGroup == "rootvg").Select(d => d.Pvid).ToList();
                    rec.OriginalHostName = f.HostName;
                    rec.OriginalLevel = f.Level.ToString();
                    Save(s);
                }
                ShutDown(original, context);
            });
            Fault(Steps.TakeOver, FaultTiming.During);
            Part("Disks", () => MoveDisks(original, rec));
            Part("Remove", () =>
            {
                if (LparState(original) != "") ChangeHmc(HmcCommands.Remove(Sys, original), $"removing the original partition {original} (rmsyscfg)");
            });
            Part("OldRoot", () => ImportOldRoots(s, original, rec, context));
            Part("Address", () => TakeAddress(s, original, surrogate, rec));
            Part("Rename", () => ChangeHmc(HmcCommands.Rename(Sys, surrogate, original), $"renaming {surrogate} to {original} (chsyscfg)"));
            Part("HostName", () => Change(original, AixCommands.SetHostName(rec.OriginalHostName!), "taking over the host name"));
            foreach (var a in s.Applications.Where(a => Same(a.Partition, surrogate))) a.Partition = original;
            s.Claims.RemoveAll(c => Same(c.Partition, original) && c.Purpose == "Clone");
            s.Clones.RemoveAll(c => Same(c.Partition, original));
            s.CloneLevels.Remove(original);
            s.Surrogates.Remove(rec);
            Invalidate();
        });
        Fault(Steps.TakeOver, FaultTiming.After);
        return Inventory().Partitions.First(p => Same(p.Name, original));
    }

    /// <summary>Every disk the original had through the VIOS is mapped to the surrogate; the original's adapter goes.</summary>
    private void MoveDisks(string original, SurrogateRecord rec)
    {
        var adapters = ScsiAdapters();
        var slot = adapters.FirstOrDefault(a => Same(a.Partition, ViosName) && a.Type == "server" && Same(a.RemotePartition, original))?.Slot;
        if (slot is null) return;
        var vhost = Vhost(slot.Value);
        if (vhost is not null)
        {
            var pvids = AixCommands.ParseDisks(Vios(HmcCommands.ViosDisks())).Where(d => vhost.Targets.Any(t => t.Backing == d.Name)).Select(d => d.Pvid).ToList();
            MapDisks(rec, pvids);
        }
        RemoveServerAdapter(slot.Value);
    }

    /// <summary>The original's rootvg becomes old_rootvg on the surrogate (older kept ones become old_rootvg1, 2, ...), varied off.</summary>
    private void ImportOldRoots(PowerState s, string original, SurrogateRecord rec, OperationContext context)
    {
        Change(rec.Name, AixCommands.Configure(), "configuring the original's disks (cfgmgr)");
        var seen = DisksOn(rec.Name);
        var older = s.OldRoots.Where(o => Same(o.Partition, original)).ToList();
        OldRootVgs.Age(older, o => o.Name, (o, name) => o.Name = name);
        var kept = new OldRootRecord { Partition = original, Name = OldRootVgs.Newest, Pvids = rec.OldRootPvids.ToList(), Level = rec.OriginalLevel ?? "" };
        foreach (var o in older.Append(kept))
        {
            var disk = seen.FirstOrDefault(d => o.Pvids.Contains(d.Pvid));
            if (disk is null || disk.VolumeGroup == o.Name) continue;
            if (disk.VolumeGroup is not null)
                throw new LiveUpdateException("DiskInUse", ErrorKind.ResourceUnavailable, $"{disk.Name} of {rec.Name} belongs to {disk.VolumeGroup}; it was to become {o.Name}.", disk.Name);
            context.Logger.LogInformation("Importing {Disk} as {VolumeGroup} on {Surrogate}", disk.Name, o.Name, rec.Name);
            Change(rec.Name, AixCommands.Import(o.Name, disk.Name), $"importing {o.Name} (importvg)");
            Change(rec.Name, AixCommands.VaryOff(o.Name), $"varying {o.Name} off");
        }
        s.OldRoots.RemoveAll(o => Same(o.Partition, original) && o.Name == "old_rootvg" && !ReferenceEquals(o, kept) && !older.Contains(o));
        s.OldRoots.Add(kept);
        foreach (var p in kept.Pvids)
        {
            s.Claims.RemoveAll(c => c.Pvid == p);
            s.Claims.Add(new DiskClaim { Pvid = p, Disk = seen.FirstOrDefault(d => d.Pvid == p)?.Name ?? "", Partition = original, Purpose = "OldRoot" });
        }
    }

    /// <summary>The surrogate adds the original's address, is reached there from then on, and makes it its own (the temporary one goes).</summary>
    private void TakeAddress(PowerState s, string original, string surrogate, SurrogateRecord rec)
    {
        var d = Described(original);
        var address = AddressOf(d);
        Change(surrogate, AixCommands.AddAlias(d.Interface!, address, d.Netmask!), "adding the original's address");
        rec.TakeOverDone.Add("Address");
        Save(s);
        _ssh.Forget(new SshEndpoint(surrogate, rec.Address, d.Port, PartitionAuth(d), address, d.Port));
        Change(surrogate, AixCommands.SetAddress(d.Interface!, address, d.Netmask!), "making the original's address the partition's own");
        rec.TakeOverDone.Remove("Address");
    }
}
