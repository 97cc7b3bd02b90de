using System;
using System.Collections.Generic;
using System.Linq;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends.Power;

/// <summary>What every parser shares: a failed command is an error with its exit code and message, output that does not have the documented form is <c>UnexpectedOutput</c> naming the command and the line, never a guess.</summary>
public static class RemoteOutput
{
    public static LiveUpdateException Unexpected(RemoteResult r, string line, string expected) =>
        new("UnexpectedOutput", ErrorKind.InvalidData,
            $"{r.Endpoint}: '{r.Command}' printed a line that is not {expected}: '{Shorten(line)}'. Nothing is assumed from it.", r.Endpoint);

    public static LiveUpdateException Failed(RemoteResult r, string what) =>
        new("RemoteCommandFailed", ErrorKind.InvalidOperation, $"{r.Endpoint}: {what} failed: '{r.Command}' exited {r.ExitCode}: {Shorten(r.Reason)}", r.Endpoint);

    public static RemoteResult Check(this RemoteResult r, string what) => r.Succeeded ? r : throw Failed(r, what);

    /// <summary>The non-empty lines of the output, without trailing blanks.</summary>
    public static IReadOnlyList<string> Lines(this RemoteResult r) =>
        r.Output.Replace("\r", "").Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0).ToList();

    private static string Shorten(string s) => s.Length > 200 ? s.Substring(0, 200) + "…" : s;
}
