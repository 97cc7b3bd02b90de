using System;
using System.Runtime.InteropServices;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends.Host;

/// <summary>The few system calls the Linux backends need that .NET does not offer.</summary>
internal static partial class Native
{
    [DllImport("libc", SetLastError = true)]
    private static extern uint geteuid();

    [DllImport("libc")]
    private static extern uint getegid();

    public static uint EffectiveUid => geteuid();
    public static uint EffectiveGid => getegid();

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int sys_kill(int pid, int signal);

    public const int SIGKILL = 9;
    public const int SIGTERM = 15;

    public static bool IsRoot => OperatingSystem.IsLinux() && geteuid() == 0;

    /// <summary>Sends a signal to a process (pid &gt; 0) or a process group (pid &lt; 0); false when there is none.</summary>
    public static bool Kill(int pid, int signal) => sys_kill(pid, signal) == 0;

    public static int Signal(string name) => name.ToUpperInvariant().Replace("SIG", "") switch
    {
        "HUP" => 1, "INT" => 2, "QUIT" => 3, "KILL" => 9, "USR1" => 10, "USR2" => 12, "TERM" => 15,
        _ => throw new LiveUpdateException("SignalUnknown", ErrorKind.InvalidArgument, $"'{name}' is not a signal this backend sends (HUP, INT, QUIT, KILL, USR1, USR2, TERM).", name),
    };
}
