using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LiveUpdate.Engine.Backends.Power;

/// <summary>
/// A real IBM Power frame as a system that can be live-updated, driven over SSH (SSH.NET) as an administrator
/// would: the HMC command line for partitions, profiles, resources and power; the VIOS padmin commands (through
/// the HMC's viosvrcmd, or over the VIOS's own SSH) for virtual SCSI mappings; the AIX commands on the partitions
/// for disks, volume groups, the alternate disk, levels and the applications.
/// <list type="bullet">
/// <item>Clone: <c>alt_disk_copy -d disks -B</c> (the boot list is never changed) makes altinst_rootvg.</item>
/// <item>Mirror: <c>mirrorvg rootvg disks</c> (and <c>syncvg</c> until no partition is stale) keeps a second copy of
/// rootvg that every write reaches, until the take-over.</item>
/// <item>Install: the bundle is copied to the partition and checked there (<c>openssl dgst -sha256</c>), installed into
/// the clone only (<c>alt_rootvg_op -C -w filesets -l folder</c>), and the clone's level is read back from the clone
/// (<c>chroot /alt_inst oslevel -s</c> and <c>lslpp -Lc</c>).</item>
/// <item>Boot: the surrogate partition is made from the original's profile (<c>mksyscfg</c>) with a virtual SCSI
/// adapter of its own on the VIOS (<c>chhwres</c>, <c>cfgdev</c>, <c>mkvdev</c> of the clone disks), gets a temporary
/// host name and address in the clone's ODM, is activated (<c>chsysstate -o on</c>) and waited for until it answers on
/// SSH, with its original's host key, at the new level.</item>
/// <item>Import: since <c>splitvg</c> does not split rootvg and a copy of a varied-on volume group must not be
/// imported elsewhere, the surrogate receives what the applications need the way an administrator moves data
/// between partitions: the disks of each application's data volume group are mapped to it through the VIOS and
/// configured (<c>cfgmgr</c>); they are imported there in the blackout.</item>
/// <item>Move: the application stops, its file system is unmounted, its data volume group varied off and exported on
/// the source, imported and mounted on the destination, its service address moves (<c>chdev -a delalias4/alias4</c>),
/// it starts and is health-checked there.</item>
/// <item>Take-over: the rootvg mirror is removed (<c>unmirrorvg</c>, <c>reducevg</c>, <c>chpv -C</c>), the original is
/// shut down, its disks are mapped to the surrogate, its partition removed (<c>rmsyscfg</c>); the surrogate imports the
/// old rootvg as old_rootvg, takes the original's address and host name (<c>chdev</c>) and its name on the HMC
/// (<c>chsyscfg -i name=...,new_name=...</c>).</item>
/// </list>
/// Every command is an argument vector quoted by <see cref="RemoteCommand.Quote(IReadOnlyList{string})"/>; every
/// command and its exit code reaches the log; output that does not parse is UnexpectedOutput.
/// </summary>
public sealed partial class PowerBackend : ILiveUpdateBackend
{
    public const string KindName = "Power";
    private static readonly TimeSpan StoreWait = TimeSpan.FromSeconds(30);
    private readonly PowerStore _store;
    private readonly PowerConnection _connection;
    private readonly SshPool _ssh;
    private readonly object _cacheGate = new();
    private int _lockDepth;
    private string _machineType = "", _serial = "";
    private ILogger _log = NullLogger.Instance;
    private CancellationToken _cancel;

    private PowerBackend(string root, PowerDescription description, PowerConnection connection)
    {
        _store = new PowerStore(root);
        Description = description;
        _connection = connection;
        var known = connection.KnownHostsPath ?? (description.KnownHosts is null ? KnownHosts.DefaultPath : Path.Combine(root, description.KnownHosts));
        _ssh = new SshPool(KnownHosts.Open(known), connection.TrustHostKey);
    }

    public PowerDescription Description { get; }
    public string Kind => KindName;
    public string Location => _store.Root;
    public TimingModel Timing { get; } = new(CopyMBps: 300, MirrorSyncMBps: 250, SecondsPerPackage: 20, PartitionCreateSeconds: 30, BootSeconds: 240,
        ImportSeconds: 5, ShutdownSeconds: 60, StopMilliseconds: 500, SyncMilliseconds: 2000, StartMilliseconds: 1000, HealthMilliseconds: 500);
    public FaultInjector? Faults { get; set; }
    public DateTimeOffset Clock => DateTimeOffset.Now;

    /// <summary>What the backend has sent so far: SSH round trips and the time they took.</summary>
    public SshStatistics Statistics => _ssh.Statistics;

    public void Dispose() => _ssh.Dispose();

    public IDisposable Lock(TimeSpan wait)
    {
        var held = _store.Lock(wait);
        if (Interlocked.Increment(ref _lockDepth) == 1) Invalidate();
        return new Releaser(() =>
        {
            Interlocked.Decrement(ref _lockDepth);
            held.Dispose();
        });
    }

    private sealed class Releaser : IDisposable
    {
        private Action? _release;
        public Releaser(Action release) => _release = release;
        public void Dispose() => Interlocked.Exchange(ref _release, null)?.Invoke();
    }

    // ================================================================== opening

    /// <summary>True when the folder holds a Power system description.</summary>
    public static bool IsSystem(string path) => PowerDescription.Exists(Path.GetFullPath(path));

    /// <summary>
    /// Connects to the frame a state folder describes: the HMC must know the managed system and every described
    /// partition, and the running partitions must accept the login (host keys checked first). Credentials come from
    /// <paramref name="connection"/>, or from an earlier connection to the same folder in this process.
    /// </summary>
    public static PowerBackend Open(string path, PowerConnection? connection = null, ILogger? log = null)
    {
        var root = Path.GetFullPath(path);
        PowerStore.PrepareFolder(root);
        var description = PowerDescription.Load(root);
        var c = connection ?? PowerConnection.For(root);
        var backend = new PowerBackend(root, description, c);
        try
        {
            backend._log = log ?? NullLogger.Instance;
            backend.Verify();
        }
        catch
        {
            backend.Dispose();
            throw;
        }
        finally
        {
            backend._log = NullLogger.Instance;
        }
        PowerConnection.Remember(root, c);
        return backend;
    }

    /// <summary>Writes a description into a state folder (owner-only) and connects to it.</summary>
    public static PowerBackend Create(string path, PowerDescription description, PowerConnection connection, ILogger? log = null)
    {
        var root = Path.GetFullPath(path);
        PowerStore.PrepareFolder(root);
        description.Validate(Path.Combine(root, PowerDescription.FileName));
        description.Save(root);
        return Open(root, connection, log);
    }

    /// <summary>The state folder for a frame connected by name: $XDG_STATE_HOME/LiveUpdate/power/HMC/SYSTEM (~/.local/state when unset).</summary>
    public static string DefaultFolder(string hmc, string managedSystem)
    {
        var state = Environment.GetEnvironmentVariable("XDG_STATE_HOME");
        if (string.IsNullOrEmpty(state))
            state = OperatingSystem.IsWindows() ? Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData)
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state");
        return Path.Combine(state, "LiveUpdate", "power", hmc, managedSystem);
    }

    /// <summary>Checks the connection: the managed system, the described partitions, the logins (nothing is changed).</summary>
    private void Verify()
    {
        var systems = HmcCommands.Values(Hmc(HmcCommands.Systems()), 4, required: true, what: "the managed systems");
        var system = systems.FirstOrDefault(s => s[0] == Sys);
        if (system is not null) (_machineType, _serial) = (system[1], system[2]);
        if (system is null)
            throw new LiveUpdateException("ManagedSystemNotFound", ErrorKind.ObjectNotFound,
                $"The HMC {Description.Hmc!.Address} manages no system named '{Sys}'. It manages: {string.Join(", ", systems.Select(s => s[0]))}.", Sys);
        var lpars = HmcPartitions(required: true);
        if (Description.Partitions!.Count == 0)
        {
            foreach (var l in lpars.Where(l => l.Env == "aixlinux" && !Surrogates().Any(s => Same(s.Name, l.Name))))
                Description.Partitions.Add(new PowerDescription.PartitionDescription { Name = l.Name, Address = l.Address.Length > 0 ? l.Address : null });
            Description.Save(Location);
        }
        foreach (var p in Description.Partitions)
        {
            var known = lpars.FirstOrDefault(l => Same(l.Name, p.Name));
            if (known is null && !State().Surrogates.Any(s => Same(s.Of, p.Name)))
                throw new LiveUpdateException("PartitionNotFound", ErrorKind.ObjectNotFound,
                    $"The description names partition '{p.Name}', which {Sys} does not have. Its partitions: {string.Join(", ", lpars.Select(l => l.Name))}.", p.Name);
        }
        var running = Description.Partitions.Where(p => lpars.Any(l => Same(l.Name, p.Name) && l.State == "Running")).ToList();
        Parallel(running.Select(p => (Func<object?>)(() =>
        {
            _ssh.Connect(Endpoint(p.Name!, lpars), _log);
            return null;
        })).ToArray());
    }

    private IReadOnlyList<SurrogateRecord> Surrogates() => State().Surrogates;

    // ================================================================== endpoints and commands

    private string Sys => Description.ManagedSystem!;
    private string ViosName => Description.Vios!.Name!;

    private string KeyPath(string? file) => file is null ? "" : Path.IsPathRooted(file) ? file : Path.Combine(Location, file);

    private SshEndpoint HmcEndpoint
    {
        get
        {
            var h = Description.Hmc!;
            var c = _connection.HmcCredential;
            var auth = c is not null ? new SshAuth(string.IsNullOrEmpty(c.UserName) ? h.User! : c.UserName, SshAuthKind.Password, c)
                : h.KeyFile is not null ? new SshAuth(h.User!, SshAuthKind.KeyFile, keyFile: KeyPath(h.KeyFile))
                : new SshAuth(h.User!, SshAuthKind.Agent);
            return new SshEndpoint("HMC " + h.Address, h.Address!, h.Port, auth);
        }
    }

    private SshAuth PartitionAuth(PowerDescription.PartitionDescription d)
    {
        var c = _connection.PartitionCredential;
        if (c is not null) return new SshAuth(string.IsNullOrEmpty(c.UserName) ? d.User! : c.UserName, SshAuthKind.Password, c);
        return d.KeyFile is not null ? new SshAuth(d.User!, SshAuthKind.KeyFile, keyFile: KeyPath(d.KeyFile)) : new SshAuth(d.User!, SshAuthKind.Agent);
    }

    /// <summary>The SSH endpoint of a partition: a described one at its address, a surrogate at its temporary address with its original's key.</summary>
    private SshEndpoint Endpoint(string partition, IReadOnlyList<HmcPartition>? lpars = null)
    {
        var sur = State().Surrogate(partition);
        if (sur is not null)
        {
            var of = Described(sur.Of);
            var taken = sur.TakeOverDone.Contains("Address");
            return new SshEndpoint(partition, taken ? AddressOf(of, lpars) : sur.Address, of.Port, PartitionAuth(of), taken ? null : AddressOf(of, lpars), of.Port);
        }
        var d = Described(partition);
        return new SshEndpoint(partition, AddressOf(d, lpars), d.Port, PartitionAuth(d));
    }

    private string AddressOf(PowerDescription.PartitionDescription d, IReadOnlyList<HmcPartition>? lpars = null)
    {
        if (d.Address is not null) return d.Address;
        var l = (lpars ?? HmcPartitions()).FirstOrDefault(x => Same(x.Name, d.Name));
        return l is { Address.Length: > 0 } ? l.Address
            : throw new LiveUpdateException("PartitionAddressUnknown", ErrorKind.ObjectNotFound, $"Partition {d.Name} has no address in the description and the HMC reports none (rmc_ipaddr).", d.Name);
    }

    private PowerDescription.PartitionDescription Described(string name) => Description.Partition(name)
        ?? throw new LiveUpdateException("PartitionNotDescribed", ErrorKind.InvalidArgument, $"Partition {name} is not named in {PowerDescription.FileName}.", name);

    private RemoteResult Hmc(string[] argv) => _ssh.Run(HmcEndpoint, argv, _log);

    private RemoteResult Vios(string[] argv)
    {
        var v = Description.Vios!;
        if (v.Address is null) return Hmc(HmcCommands.OnVios(Sys, ViosName, argv));
        var c = _connection.HmcCredential;
        var auth = v.KeyFile is not null ? new SshAuth(v.User!, SshAuthKind.KeyFile, keyFile: KeyPath(v.KeyFile))
            : c is not null ? new SshAuth(v.User!, SshAuthKind.Password, c) : new SshAuth(v.User!, SshAuthKind.Agent);
        return _ssh.Run(new SshEndpoint("VIOS " + v.Name, v.Address, 22, auth), argv, _log);
    }

    private RemoteResult On(string partition, string[] argv, byte[]? input = null)
    {
        var r = _ssh.Run(Endpoint(partition), argv, _log, input);
        return r;
    }

    /// <summary>Runs a changing command on a partition: the cached facts of that partition are stale afterwards.</summary>
    private RemoteResult Change(string partition, string[] argv, string what, byte[]? input = null)
    {
        Invalidate(partition);
        try
        {
            return On(partition, argv, input).Check(what);
        }
        finally
        {
            Invalidate(partition);
        }
    }

    private RemoteResult ChangeHmc(string[] argv, string what)
    {
        Invalidate();
        try
        {
            return Hmc(argv).Check(what);
        }
        finally
        {
            Invalidate();
        }
    }

    /// <summary>A change on the HMC that no partition sees (a profile, an adapter not in use yet).</summary>
    private RemoteResult ChangeHmcOnly(string[] argv, string what)
    {
        InvalidateHmc();
        try
        {
            return Hmc(argv).Check(what);
        }
        finally
        {
            InvalidateHmc();
        }
    }

    private RemoteResult ChangeVios(string[] argv, string what)
    {
        Invalidate();
        try
        {
            return Vios(argv).Check(what);
        }
        finally
        {
            Invalidate();
        }
    }

    /// <summary>Runs independent reads at once over the multiplexed connections; the first error wins.</summary>
    private static T[] Parallel<T>(params Func<T>[] work)
    {
        if (work.Length == 1) return new[] { work[0]() };
        var tasks = work.Select(w => Task.Run(w)).ToArray();
        try
        {
            Task.WaitAll(tasks);
        }
        catch (AggregateException e)
        {
            var first = e.Flatten().InnerExceptions.FirstOrDefault(x => x is LiveUpdateException) ?? e.Flatten().InnerExceptions[0];
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
        }
        return tasks.Select(t => t.Result).ToArray();
    }

    // ================================================================== state

    private PowerState? _current;

    /// <summary>The state as the change in progress sees it (unsaved parts included), else as stored.</summary>
    private PowerState State() => _current ?? _store.Load();

    private T Update<T>(OperationContext context, Func<PowerState, T> change)
    {
        using (_store.Lock(StoreWait))
        {
            Use(context);
            var outer = _current;
            var s = outer ?? _store.Load();
            _current = s;
            try
            {
                var result = change(s);
                _store.Save(s);
                return result;
            }
            catch
            {
                _store.Save(s);
                throw;
            }
            finally
            {
                _current = outer;
            }
        }
    }

    private void Update(OperationContext context, Action<PowerState> change) => Update<object?>(context, s =>
    {
        change(s);
        return null;
    });

    private void Save(PowerState s) => _store.Save(s);

    private void Use(OperationContext context)
    {
        _log = context.Logger;
        _cancel = context.Cancellation;
    }

    private void Fault(string step, FaultTiming timing) => Faults?.At(step, timing);

    private static bool Same(string? a, string? b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

    private static string Join(IEnumerable<string> items) => string.Join(", ", items);

    /// <summary>Waits for a condition, polling; false when the time is up.</summary>
    private bool WaitFor(Func<bool> condition, TimeSpan timeout, TimeSpan? every = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (condition()) return true;
            if (DateTime.UtcNow > deadline) return false;
            Thread.Sleep(every ?? TimeSpan.FromMilliseconds(50));
        }
    }
}
