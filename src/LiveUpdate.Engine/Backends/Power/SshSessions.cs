using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using LiveUpdate.Engine.Flow;
using Microsoft.Extensions.Logging;
using Renci.SshNet;
using Renci.SshNet.Common;

namespace LiveUpdate.Engine.Backends.Power;

public enum SshAuthKind { Password, KeyFile, Agent }

/// <summary>
/// How to log in to an endpoint. A password (or a key's passphrase) lives only here, as the credential's secure
/// string: it is handed to the SSH library at login and is never part of a log entry, a message or a command line;
/// <see cref="ToString"/> shows the user and the kind only.
/// </summary>
public sealed class SshAuth
{
    public SshAuth(string user, SshAuthKind kind, NetworkCredential? secret = null, string? keyFile = null)
    {
        User = user;
        Kind = kind;
        Secret = secret;
        KeyFile = keyFile;
    }

    public string User { get; }
    public SshAuthKind Kind { get; }
    /// <summary>The password (Password) or the key file's passphrase (KeyFile), if any.</summary>
    internal NetworkCredential? Secret { get; }
    public string? KeyFile { get; }

    public override string ToString() => Kind == SshAuthKind.KeyFile ? $"{User} with key {KeyFile}" : $"{User} ({Kind.ToString().ToLowerInvariant()})";
}

/// <summary>
/// An SSH endpoint: a name for messages, the address and port, the login. A surrogate partition answers at an
/// address of its own with the host key of the partition it was cloned from: <paramref name="ExpectKeyOf"/> names
/// that partition's address, whose known-hosts entry its key must match.
/// </summary>
public sealed record SshEndpoint(string Name, string Host, int Port, SshAuth Auth, string? ExpectKeyOf = null, int ExpectPort = 22)
{
    public string Key => $"{Auth.User}@{Host}:{Port}";
}

/// <summary>Counts what the backend sent: round trips and the time they took (for the benchmark).</summary>
public sealed class SshStatistics
{
    private long _roundTrips, _ticks, _connects;
    public long RoundTrips => Interlocked.Read(ref _roundTrips);
    public long Connects => Interlocked.Read(ref _connects);
    public TimeSpan RemoteTime => TimeSpan.FromTicks(Interlocked.Read(ref _ticks));
    internal void Count(TimeSpan t)
    {
        Interlocked.Increment(ref _roundTrips);
        Interlocked.Add(ref _ticks, t.Ticks);
    }
    internal void Connected() => Interlocked.Increment(ref _connects);
}

/// <summary>
/// One SSH connection per endpoint, multiplexed: every command is a channel of its own on it, several may run at
/// once. Host keys are checked against the known-hosts file before anything is sent: a known key passes, a changed
/// one is always refused, an unknown one is refused unless the connection trusts new keys (then it is recorded).
/// A connection that drops fails the command that was running (it is never repeated here: the step that sent it
/// decides) and is opened again for the next one.
/// </summary>
public sealed class SshPool : IDisposable
{
    private readonly ConcurrentDictionary<string, Session> _sessions = new();

    public SshPool(KnownHosts knownHosts, bool trustNewHostKeys)
    {
        KnownHosts = knownHosts;
        TrustNewHostKeys = trustNewHostKeys;
    }

    public KnownHosts KnownHosts { get; }
    public bool TrustNewHostKeys { get; }
    public SshStatistics Statistics { get; } = new();
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromMinutes(30);
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(15);

    public RemoteResult Run(SshEndpoint endpoint, IReadOnlyList<string> argv, ILogger log, byte[]? input = null)
        => _sessions.GetOrAdd(endpoint.Key, _ => new Session(this)).Run(endpoint, argv, log, input);

    /// <summary>Opens the connection (checking the host key and the login) without running anything.</summary>
    public void Connect(SshEndpoint endpoint, ILogger log) => _sessions.GetOrAdd(endpoint.Key, _ => new Session(this)).Client(endpoint, log);

    /// <summary>Closes the connection to an endpoint (a partition that was shut down).</summary>
    public void Forget(SshEndpoint endpoint)
    {
        if (_sessions.TryRemove(endpoint.Key, out var s)) s.Dispose();
    }

    public void Dispose()
    {
        foreach (var s in _sessions.Values) s.Dispose();
        _sessions.Clear();
    }

    private sealed class Session : IDisposable
    {
        private readonly SshPool _pool;
        private readonly object _gate = new();
        private SshClient? _client;

        public Session(SshPool pool) => _pool = pool;

        public SshClient Client(SshEndpoint e, ILogger log)
        {
            lock (_gate)
            {
                if (_client is { IsConnected: true }) return _client;
                _client?.Dispose();
                _client = null;
                LiveUpdateException? refusal = null;
                var client = new SshClient(Info(e));
                client.HostKeyReceived += (_, args) =>
                {
                    refusal = CheckHostKey(e, args.HostKeyName, args.HostKey, log);
                    args.CanTrust = refusal is null;
                };
                var clock = Stopwatch.StartNew();
                try
                {
                    client.Connect();
                }
                catch (Exception x) when (refusal is not null)
                {
                    client.Dispose();
                    throw new LiveUpdateException(refusal.ErrorId, refusal.Kind, refusal.Message, refusal.Target, x);
                }
                catch (SshAuthenticationException x)
                {
                    client.Dispose();
                    throw new LiveUpdateException("SshAuthenticationFailed", ErrorKind.PermissionDenied,
                        $"{e.Name} ({e.Host}:{e.Port}) refused the login of {e.Auth}: {x.Message}", e.Name);
                }
                catch (Exception x) when (x is SocketException or SshConnectionException or SshOperationTimeoutException or SshException or IOException)
                {
                    client.Dispose();
                    throw new LiveUpdateException("SshConnectFailed", ErrorKind.ResourceUnavailable,
                        $"{e.Name} ({e.Host}:{e.Port}) cannot be reached over SSH: {x.Message}", e.Name, x);
                }
                _pool.Statistics.Connected();
                log.LogDebug("Connected to {Endpoint} ({Host}:{Port}) as {User} in {Milliseconds} ms", e.Name, e.Host, e.Port, e.Auth.User, clock.ElapsedMilliseconds);
                _client = client;
                return client;
            }
        }

        private ConnectionInfo Info(SshEndpoint e)
        {
            var methods = new List<AuthenticationMethod>();
            switch (e.Auth.Kind)
            {
                case SshAuthKind.Password:
                    var bytes = Encoding.UTF8.GetBytes(e.Auth.Secret?.Password ?? "");
                    methods.Add(new PasswordAuthenticationMethod(e.Auth.User, bytes));
                    var kbd = new KeyboardInteractiveAuthenticationMethod(e.Auth.User);
                    kbd.AuthenticationPrompt += (_, a) =>
                    {
                        foreach (var p in a.Prompts) p.Response = e.Auth.Secret?.Password ?? "";
                    };
                    methods.Add(kbd);
                    break;
                case SshAuthKind.KeyFile:
                    methods.Add(new PrivateKeyAuthenticationMethod(e.Auth.User, OpenKey(e)));
                    break;
                default:
                    methods.Add(new PrivateKeyAuthenticationMethod(e.Auth.User, SshAgentKeySource.Open()));
                    break;
            }
            return new ConnectionInfo(e.Host, e.Port, e.Auth.User, methods.ToArray()) { Timeout = _pool.ConnectTimeout };
        }

        private static IPrivateKeySource OpenKey(SshEndpoint e)
        {
            try
            {
                var pass = e.Auth.Secret?.Password;
                return string.IsNullOrEmpty(pass) ? new PrivateKeyFile(e.Auth.KeyFile!) : new PrivateKeyFile(e.Auth.KeyFile!, pass);
            }
            catch (Exception x) when (x is IOException or UnauthorizedAccessException or SshException or ArgumentException or InvalidOperationException)
            {
                throw new LiveUpdateException("SshKeyFileInvalid", ErrorKind.InvalidArgument, $"The key file '{e.Auth.KeyFile}' for {e.Name} cannot be read: {x.Message}", e.Auth.KeyFile, x);
            }
        }

        private LiveUpdateException? CheckHostKey(SshEndpoint e, string type, byte[] key, ILogger log)
        {
            var known = _pool.KnownHosts;
            var fingerprint = KnownHosts.Fingerprint(key);
            if (!string.IsNullOrEmpty(e.ExpectKeyOf))
            {
                // A surrogate: it must present the key of the partition it was cloned from.
                var m = known.Verify(e.ExpectKeyOf, e.ExpectPort, type, key);
                return m == HostKeyMatch.Known ? null : new LiveUpdateException("HostKeyChanged", ErrorKind.PermissionDenied,
                    $"{e.Name} at {e.Host} presents the {type} key {fingerprint}, which is not the known key of {e.ExpectKeyOf} that it was cloned from; the connection is refused.", e.Name);
            }
            switch (known.Verify(e.Host, e.Port, type, key))
            {
                case HostKeyMatch.Known:
                    return null;
                case HostKeyMatch.Changed:
                    return new LiveUpdateException("HostKeyChanged", ErrorKind.PermissionDenied,
                        $"The host key of {e.Name} ({KnownHosts.HostPattern(e.Host, e.Port)}) has changed: it presents the {type} key {fingerprint}, which {known.Path} does not hold for it. The connection is refused; if the change is expected, remove the old entry from {known.Path}.", e.Name);
                default:
                    if (!_pool.TrustNewHostKeys)
                        return new LiveUpdateException("HostKeyUnknown", ErrorKind.PermissionDenied,
                            $"The host key of {e.Name} ({KnownHosts.HostPattern(e.Host, e.Port)}), {type} {fingerprint}, is not in {known.Path}. Check it and connect with -TrustHostKey to record it.", e.Name);
                    known.Add(e.Host, e.Port, type, key);
                    log.LogWarning("Recorded the host key of {Endpoint} ({Host}): {Type} {Fingerprint} in {File}", e.Name, KnownHosts.HostPattern(e.Host, e.Port), type, fingerprint, known.Path);
                    return null;
            }
        }

        public RemoteResult Run(SshEndpoint e, IReadOnlyList<string> argv, ILogger log, byte[]? input)
        {
            var text = RemoteCommand.Quote(argv);
            var client = Client(e, log);
            var clock = Stopwatch.StartNew();
            try
            {
                using var cmd = client.CreateCommand(text);
                cmd.CommandTimeout = _pool.CommandTimeout;
                if (input is null)
                {
                    cmd.Execute();
                }
                else
                {
                    var pending = cmd.BeginExecute();
                    using (var stdin = cmd.CreateInputStream()) stdin.Write(input, 0, input.Length);
                    cmd.EndExecute(pending);
                }
                clock.Stop();
                _pool.Statistics.Count(clock.Elapsed);
                if (cmd.ExitStatus is not { } code)
                    throw Lost(e, text, cmd.ExitSignal is null ? "it ended without an exit status" : "it ended by signal " + cmd.ExitSignal, null);
                var r = new RemoteResult(e.Name, text, code, cmd.Result, cmd.Error, clock.Elapsed);
                if (r.Succeeded) log.LogInformation("{Endpoint}: {Command} exited 0 in {Milliseconds} ms", e.Name, text, clock.ElapsedMilliseconds);
                else log.LogInformation("{Endpoint}: {Command} exited {ExitCode} in {Milliseconds} ms: {Error}", e.Name, text, code, clock.ElapsedMilliseconds, r.Reason);
                return r;
            }
            catch (Exception x) when (x is SshConnectionException or SocketException or SshOperationTimeoutException or ObjectDisposedException or InvalidOperationException or IOException)
            {
                throw Lost(e, text, x.Message, x);
            }
        }

        private LiveUpdateException Lost(SshEndpoint e, string text, string why, Exception? inner)
        {
            lock (_gate)
            {
                _client?.Dispose();
                _client = null;
            }
            return new LiveUpdateException("SshConnectionLost", ErrorKind.ResourceUnavailable,
                $"The connection to {e.Name} ({e.Host}) was lost while it ran '{text}' ({why}); whether the command took effect is not known. Resume-LiveUpdate finishes or rolls back the operation once {e.Name} answers again.", e.Name, inner);
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _client?.Dispose();
                _client = null;
            }
        }
    }
}
