using System;
using System.IO;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends.Host;

/// <summary>
/// The state file of a Linux host (<c>liveupdate-state.json</c> for the container backend): a header line with the
/// SHA-256 of the JSON body, written to a temporary file, flushed and renamed, so a crash leaves the old or the new
/// state and a file edited by hand or truncated is refused. Changes are serialised across processes by an exclusive
/// lock on <c>.lock</c>.
/// </summary>
internal sealed class HostStore<TState> where TState : new()
{
    public const string LockFileName = SystemLock.FileName;

    private readonly SystemLock _lock;
    private readonly string _header;

    public HostStore(string root, string stateFileName, string header)
    {
        Root = root;
        StatePath = Path.Combine(root, stateFileName);
        _header = header;
        _lock = new SystemLock(root);
    }

    public string Root { get; }
    public string StatePath { get; }
    public bool Exists => File.Exists(StatePath);

    public IDisposable Lock(TimeSpan wait) => _lock.Hold(wait);

    public TState Load() => File.Exists(StatePath) ? StateFile.Read<TState>(StatePath, _header, Corrupt) : new TState();

    private LiveUpdateException Corrupt(string why) => new("LabStateCorrupt", ErrorKind.InvalidData,
        $"The state of '{Root}' cannot be trusted: {why}. Nothing was changed.", StatePath);

    public void Save(TState state) => StateFile.WriteAtomically(StatePath, StateFile.Format(_header, state));
}
