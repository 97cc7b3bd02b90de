using System;
using System.Collections.Concurrent;
using System.IO;
using System.Net;

namespace LiveUpdate.Engine.Backends.Power;

/// <summary>
/// What a connection to a Power frame needs beyond its description: the credentials (held in memory only), whether
/// unknown host keys may be recorded, and which known-hosts file to use. Connections made in this process are
/// remembered by state folder, so that a second connection to the same system (a background job) logs in the same
/// way without asking again.
/// </summary>
public sealed class PowerConnection
{
    private static readonly ConcurrentDictionary<string, PowerConnection> Known = new(StringComparer.Ordinal);

    /// <summary>The HMC user's password (the user name is the credential's).</summary>
    public NetworkCredential? HmcCredential { get; init; }
    /// <summary>The partitions' root (or other administrator) password; the user name is the credential's.</summary>
    public NetworkCredential? PartitionCredential { get; init; }
    /// <summary>Record the host key of an endpoint that the known-hosts file does not know yet.</summary>
    public bool TrustHostKey { get; init; }
    /// <summary>Overrides the description's known-hosts file.</summary>
    public string? KnownHostsPath { get; init; }

    public static PowerConnection None { get; } = new();

    internal static void Remember(string location, PowerConnection c) => Known[Key(location)] = c;

    internal static PowerConnection For(string location) => Known.TryGetValue(Key(location), out var c) ? c : None;

    private static string Key(string location) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(location));
}
