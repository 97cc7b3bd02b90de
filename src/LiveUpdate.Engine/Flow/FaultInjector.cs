using System;
using System.Diagnostics;

namespace LiveUpdate.Engine.Flow;

/// <summary>The steps of a live update, as journal entries and fault points name them.</summary>
public static class Steps
{
    /// <summary>The name a surrogate partition gets until it takes over the original's identity.</summary>
    public static string SurrogateName(string partition) => partition + "_surrogate";

    public const string Verify = "Verify";
    public const string Clone = "Clone";
    public const string Mirror = "Mirror";
    public const string Install = "Install";
    public const string Boot = "Boot";
    public const string Import = "Import";
    public const string Move = "Move";
    public const string TakeOver = "TakeOver";
    /// <summary>Not a step but a fault point: the health check of the first application started on the destination fails.</summary>
    public const string Health = "Health";

    /// <summary>The steps of a live update, in order.</summary>
    public static readonly string[] Update = { Verify, Clone, Mirror, Install, Boot, Import, Move, TakeOver };
    /// <summary>The steps of an undo: the kept old_rootvg is adopted as the clone, then as an update.</summary>
    public static readonly string[] Undo = { Clone, Mirror, Boot, Import, Move, TakeOver };

    public static readonly string[] All = { Verify, Clone, Mirror, Install, Boot, Import, Move, TakeOver, Health };
}

public enum FaultTiming { Before, During, After }

public enum FaultAction
{
    /// <summary>Throw an InjectedFault error.</summary>
    Fail,
    /// <summary>Kill the process hosting the update, at once.</summary>
    Kill,
    /// <summary>Wait (at most a minute) until the file named by LIVEUPDATE_FAULT_RELEASE exists, then go on: an update held in flight.</summary>
    Pause,
}

/// <summary>
/// Test facility of every backend: makes one step fail (or kills the hosting process) before, during or after its
/// work. A backend calls <see cref="At"/> at those three points of each primitive. Configured in code, or for a
/// whole process with the environment variable <c>LIVEUPDATE_FAULT=Step:Timing[:Fail|Kill|Pause]</c> (e.g.
/// <c>Clone:During:Kill</c>); <c>Pause</c> holds the update in flight until the file that
/// <c>LIVEUPDATE_FAULT_RELEASE</c> names exists.
/// </summary>
public sealed class FaultInjector
{
    public const string EnvironmentVariable = "LIVEUPDATE_FAULT";
    public const string ReleaseVariable = "LIVEUPDATE_FAULT_RELEASE";

    public FaultInjector(string step, FaultTiming timing, FaultAction action = FaultAction.Fail)
    {
        Step = step;
        Timing = timing;
        Action = action;
    }

    public string Step { get; }
    public FaultTiming Timing { get; }
    public FaultAction Action { get; }
    public bool Fired { get; private set; }

    public static FaultInjector? FromEnvironment()
    {
        var spec = Environment.GetEnvironmentVariable(EnvironmentVariable);
        return string.IsNullOrWhiteSpace(spec) ? null : Parse(spec!);
    }

    public static FaultInjector Parse(string spec)
    {
        var parts = spec.Split(':');
        if (parts.Length is < 2 or > 3 || Array.IndexOf(Steps.All, parts[0]) < 0 || !Enum.TryParse<FaultTiming>(parts[1], true, out var timing))
            throw new LiveUpdateException("FaultSpecInvalid", ErrorKind.InvalidArgument,
                $"'{spec}' is not a fault specification; use Step:Before|During|After[:Fail|Kill|Pause] with a step of {string.Join(", ", Steps.All)}.", spec);
        var action = FaultAction.Fail;
        if (parts.Length == 3 && !Enum.TryParse(parts[2], true, out action))
            throw new LiveUpdateException("FaultSpecInvalid", ErrorKind.InvalidArgument, $"'{parts[2]}' is not Fail, Kill or Pause.", spec);
        return new FaultInjector(parts[0], timing, action);
    }

    /// <summary>Called by backends at each fault point; fires once.</summary>
    public void At(string step, FaultTiming timing)
    {
        if (!Matches(step, timing)) return;
        if (Action == FaultAction.Pause)
        {
            var release = Environment.GetEnvironmentVariable(ReleaseVariable);
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromMinutes(1) && !(release is not null && System.IO.File.Exists(release)))
                System.Threading.Thread.Sleep(20);
            return;
        }
        if (Action == FaultAction.Kill) KillNow();
        throw new LiveUpdateException("InjectedFault", ErrorKind.DeviceError, $"Injected fault: step {step} failed {timing.ToString().ToLowerInvariant()} its work.", step);
    }

    /// <summary>True (once) when this is the point to fail; for fault points that report failure instead of throwing.</summary>
    public bool Fire(string step, FaultTiming timing)
    {
        if (!Matches(step, timing)) return false;
        if (Action == FaultAction.Kill) KillNow();
        return Action == FaultAction.Fail;
    }

    private static void KillNow()
    {
        Process.GetCurrentProcess().Kill();
        Environment.FailFast("injected kill");
    }

    private bool Matches(string step, FaultTiming timing)
    {
        if (Fired || !string.Equals(step, Step, StringComparison.OrdinalIgnoreCase) || timing != Timing) return false;
        Fired = true;
        return true;
    }

    public override string ToString() => $"{Step}:{Timing}:{Action}";
}
