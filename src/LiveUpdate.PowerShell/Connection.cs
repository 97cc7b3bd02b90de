using System;
using System.Runtime.CompilerServices;
using System.Management.Automation.Runspaces;
using LiveUpdate.Engine.Backends;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.PowerShell;

/// <summary>
/// A connection to a system that LiveUpdate acts on: what Connect-LiveUpdateSystem -PassThru returns and what the
/// -System parameter of every cmdlet takes. A path (a lab or host folder) or a ManagedSystem converts to one, which
/// opens when a cmdlet first uses it. The backend kind and the location say what it is; a location need not be a
/// folder (a system reached through a management console names it in its own terms).
/// </summary>
public sealed class LiveUpdateConnection
{
    private LiveUpdateEngine? _engine;

    /// <summary>A connection to the lab or host folder at <paramref name="path"/>, opened when first used.</summary>
    public LiveUpdateConnection(string path)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new ArgumentException("A system is named by its folder.", nameof(path));
        Location = path;
    }

    /// <summary>A connection to the system that <paramref name="system"/> describes (its Location), opened when first used.</summary>
    public LiveUpdateConnection(ManagedSystem system) : this(system.Location)
    {
        Backend = system.Backend;
        Name = system.Name;
    }

    internal LiveUpdateConnection(LiveUpdateEngine engine)
    {
        _engine = engine;
        Location = engine.Backend.Location;
        Refresh();
        Connected = DateTimeOffset.Now;
    }

    /// <summary>The system's name (the frame, or the host); empty until the connection is opened.</summary>
    public string Name { get; private set; } = "";

    /// <summary>The backend: Simulated, Container, ...; empty until the connection is opened.</summary>
    public string Backend { get; private set; } = "";

    /// <summary>Where the system is: its folder for the lab and host backends.</summary>
    public string Location { get; private set; }

    /// <summary>When the connection was opened; null until then.</summary>
    public DateTimeOffset? Connected { get; private set; }

    /// <summary>Whether this is the session's connection, which cmdlets use when they are given no -System.</summary>
    public bool IsDefault => ReferenceEquals(Session.Current, this);

    /// <summary>Whether Disconnect-LiveUpdateSystem closed it; a closed connection is opened again only by a new Connect.</summary>
    public bool IsClosed { get; private set; }

    internal bool IsOpen => _engine is not null && !IsClosed;

    /// <summary>The engine over this system; <paramref name="resolve"/> turns a relative path into a full one (the session's location).</summary>
    internal LiveUpdateEngine Engine(Func<string, string> resolve)
    {
        if (IsClosed)
            throw new LiveUpdateException("ConnectionClosed", ErrorKind.InvalidOperation,
                $"The connection to {Location} was closed by Disconnect-LiveUpdateSystem; connect again with Connect-LiveUpdateSystem.", Location);
        if (_engine is not null) return _engine;
        Location = resolve(Location);
        _engine = Session.Open(Labs.Open(Location));
        Refresh();
        Connected = DateTimeOffset.Now;
        return _engine;
    }

    internal void Close() => IsClosed = true;

    private void Refresh()
    {
        var system = _engine!.Inventory().System;
        Name = system.Name;
        Backend = system.Backend;
        Location = _engine.Backend.Location;
    }

    public override string ToString() => string.IsNullOrEmpty(Name) ? Location : $"{Name} ({Backend}, {Location})";
}

/// <summary>
/// The session's connection (what Connect-LiveUpdateSystem and New-LiveUpdateLab set), per runspace. A connect that
/// fails forgets the connection the session had, and remembers why, so that the next cmdlet cannot change the
/// system the session was connected to before.
/// </summary>
internal static class Session
{
    private sealed class State
    {
        public LiveUpdateConnection? Connection;
        public string? Forgotten;
    }

    private static readonly ConditionalWeakTable<object, State> States = new();
    private static readonly object Global = new();

    private static State Mine => States.GetValue((object?)Runspace.DefaultRunspace ?? Global, _ => new State());

    public static LiveUpdateConnection? Current
    {
        get => Mine.Connection;
        set
        {
            Mine.Connection = value;
            Mine.Forgotten = null;
        }
    }

    /// <summary>The session's engine, or null.</summary>
    public static LiveUpdateEngine? CurrentEngine => Current is { IsOpen: true } c ? c.Engine(p => p) : null;

    /// <summary>Why the session has no connection, when a connect failed or a disconnect forgot it.</summary>
    public static string? Forgotten => Mine.Forgotten;

    /// <summary>Forgets the session's connection and says why.</summary>
    public static void Forget(string why)
    {
        Mine.Connection = null;
        Mine.Forgotten = why;
    }

    public static LiveUpdateConnection Connect(ILiveUpdateBackend backend)
    {
        var connection = new LiveUpdateConnection(Open(backend));
        Current = connection;
        return connection;
    }

    /// <summary>An engine over a backend, with the fault injection of the environment (a test facility).</summary>
    public static LiveUpdateEngine Open(ILiveUpdateBackend backend)
    {
        backend.Faults = FaultInjector.FromEnvironment();
        return new LiveUpdateEngine(backend);
    }

    /// <summary>A second, independent connection to the same system (for a background job).</summary>
    public static LiveUpdateEngine OpenAnother(LiveUpdateEngine engine) => Open(Labs.Open(engine.Backend.Location));
}
