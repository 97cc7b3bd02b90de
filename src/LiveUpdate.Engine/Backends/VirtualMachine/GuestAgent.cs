using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using LiveUpdate.Engine.Flow;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.VirtualMachine;

/// <summary>What a command run in a guest returned.</summary>
internal sealed record GuestResult(int ExitCode, string Output, string Error, TimeSpan Duration)
{
    public bool Succeeded => ExitCode == 0;
}

/// <summary>
/// Commands in a guest through the QEMU guest agent (<c>guest-exec</c>: a program and its argument vector, no shell
/// in between), the guest's file-system freeze and a ping. The JSON is written with System.Text.Json.
/// </summary>
internal sealed class GuestAgent
{
    private const int MaxOutput = 4 * 1024 * 1024;
    private readonly LibvirtConnection _libvirt;

    public GuestAgent(LibvirtConnection libvirt) => _libvirt = libvirt;

    public ILogger Log { get; set; } = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    /// <summary>The JSON of one agent command; arguments are a JSON object or null.</summary>
    internal static string Command(string execute, JsonObject? arguments = null)
    {
        var o = new JsonObject { ["execute"] = execute };
        if (arguments is not null) o["arguments"] = arguments;
        return o.ToJsonString();
    }

    private JsonNode? Call(string domain, string execute, JsonObject? arguments = null, int timeoutSeconds = 10)
    {
        var reply = _libvirt.AgentCommand(domain, Command(execute, arguments), timeoutSeconds);
        return JsonNode.Parse(reply)?["return"];
    }

    /// <summary>Whether the agent answers within <paramref name="timeoutSeconds"/>.</summary>
    public bool Ping(string domain, int timeoutSeconds = 2)
    {
        try
        {
            Call(domain, "guest-ping", timeoutSeconds: timeoutSeconds);
            return true;
        }
        catch (LiveUpdateException)
        {
            return false;
        }
    }

    /// <summary>Waits until the agent answers; false after <paramref name="timeout"/>.</summary>
    public bool WaitReady(string domain, TimeSpan timeout, CancellationToken cancellation = default)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            cancellation.ThrowIfCancellationRequested();
            if (_libvirt.Running(domain) && Ping(domain, 1)) return true;
            Thread.Sleep(50);
        }
        return false;
    }

    /// <summary>Starts a program in the guest with its arguments (output captured) and returns its process id there; <see cref="Wait"/> collects it.</summary>
    public long Start(string domain, IReadOnlyList<string> argv)
    {
        if (argv.Count == 0 || !argv[0].StartsWith('/'))
            throw new ArgumentException("A guest command is an absolute program path and its arguments.", nameof(argv));
        var args = new JsonArray(argv.Skip(1).Select(a => (JsonNode)JsonValue.Create(a)!).ToArray());
        var started = Call(domain, "guest-exec", new JsonObject { ["path"] = argv[0], ["arg"] = args, ["capture-output"] = true });
        return started?["pid"]?.GetValue<long>() ?? throw new LiveUpdateException("GuestAgentFailed", ErrorKind.DeviceError, $"The guest agent of {domain} started no process.", domain);
    }

    /// <summary>Waits for a program that <see cref="Start"/> started to end (polling its status, 1 ms at first, then up to every 10 ms).</summary>
    public GuestResult Wait(string domain, long pid, IReadOnlyList<string> argv, TimeSpan? timeout = null, CancellationToken cancellation = default, Stopwatch? since = null)
    {
        var clock = since ?? Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(60);
        var delay = 1;
        while (true)
        {
            var status = Call(domain, "guest-exec-status", new JsonObject { ["pid"] = pid });
            if (status?["exited"]?.GetValue<bool>() == true)
            {
                var r = new GuestResult(status["exitcode"]?.GetValue<int>() ?? (status["signal"] is not null ? 128 + status["signal"]!.GetValue<int>() : -1),
                    Decode(status["out-data"]), Decode(status["err-data"]), clock.Elapsed);
                Log.LogDebug("{Domain}$ {Command} -> {Exit} in {Ms} ms", domain, Quote(argv), r.ExitCode, (long)clock.Elapsed.TotalMilliseconds);
                return r;
            }
            if (clock.Elapsed > limit)
                throw new LiveUpdateException("GuestCommandTimedOut", ErrorKind.OperationStopped, $"'{Quote(argv)}' in {domain} did not end within {limit.TotalSeconds:0} s.", domain);
            cancellation.ThrowIfCancellationRequested();
            Thread.Sleep(delay);
            delay = Math.Min(delay * 2, 10);
        }
    }

    /// <summary>Runs a program in the guest with its arguments and waits for it to end.</summary>
    public GuestResult Exec(string domain, IReadOnlyList<string> argv, TimeSpan? timeout = null, CancellationToken cancellation = default)
    {
        var clock = Stopwatch.StartNew();
        return Wait(domain, Start(domain, argv), argv, timeout, cancellation, clock);
    }

    /// <summary>Runs a program in the guest and fails with its error output unless it exits 0.</summary>
    public GuestResult Run(string domain, IReadOnlyList<string> argv, string purpose, TimeSpan? timeout = null, CancellationToken cancellation = default)
    {
        var r = Exec(domain, argv, timeout, cancellation);
        if (!r.Succeeded)
            throw new LiveUpdateException("GuestCommandFailed", ErrorKind.InvalidOperation,
                $"{purpose}: '{Quote(argv)}' in {domain} exited with {r.ExitCode}: {Trim(r.Error.Length > 0 ? r.Error : r.Output)}", domain);
        return r;
    }

    /// <summary>Freezes the guest's file systems (all, or the mount points named); returns how many were frozen.</summary>
    public int Freeze(string domain, IReadOnlyList<string>? mountPoints = null)
    {
        var r = mountPoints is null
            ? Call(domain, "guest-fsfreeze-freeze", timeoutSeconds: 30)
            : Call(domain, "guest-fsfreeze-freeze-list", new JsonObject { ["mountpoints"] = new JsonArray(mountPoints.Select(m => (JsonNode)JsonValue.Create(m)!).ToArray()) }, 30);
        return r?.GetValue<int>() ?? 0;
    }

    public int Thaw(string domain) => Call(domain, "guest-fsfreeze-thaw", timeoutSeconds: 30)?.GetValue<int>() ?? 0;

    private static string Decode(JsonNode? data)
    {
        if (data is null) return "";
        var bytes = Convert.FromBase64String(data.GetValue<string>());
        return Encoding.UTF8.GetString(bytes, 0, Math.Min(bytes.Length, MaxOutput));
    }

    private static string Trim(string s) => s.Length > 400 ? s.Substring(0, 400) + "…" : s.Trim();

    /// <summary>An argument vector as a reader would type it (for logs and messages; never executed).</summary>
    internal static string Quote(IReadOnlyList<string> argv) => string.Join(" ", argv.Select(a =>
        a.Length > 0 && a.All(c => char.IsLetterOrDigit(c) || "-_./=:,@%+".Contains(c)) ? a : "'" + a.Replace("'", "'\\''") + "'"));
}
