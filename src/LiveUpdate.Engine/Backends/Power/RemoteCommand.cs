using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends.Power;

/// <summary>What one remote command did: its exit code, its output and how long the round trip took.</summary>
public sealed record RemoteResult(string Endpoint, string Command, int ExitCode, string Output, string Error, TimeSpan Duration)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>The first line of standard error (or output), for messages.</summary>
    public string Reason
    {
        get
        {
            var text = string.IsNullOrWhiteSpace(Error) ? Output : Error;
            var lines = text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).Take(3);
            return string.Join(" ", lines);
        }
    }
}

/// <summary>
/// The one place that turns an argument vector into the command line an SSH server's shell runs. The HMC's
/// restricted bash, the VIOS's padmin shell and AIX's ksh all split words the POSIX way, so every argument is
/// either a plain word (letters, digits and <c>_ @ % + = : , . / -</c>) or single-quoted, with each single
/// quote written as <c>'\''</c>. Nothing is ever interpolated: <c>$</c>, backquotes, <c>;</c>, <c>|</c>,
/// <c>&amp;</c>, redirections, globs, spaces and newlines inside an argument reach the command as they are.
/// An argument with a NUL or another control character (but tab and newline) is refused, since no remote shell
/// passes it through faithfully.
/// </summary>
public static class RemoteCommand
{
    public static string Quote(IReadOnlyList<string> argv)
    {
        if (argv is null || argv.Count == 0)
            throw new LiveUpdateException("RemoteCommandEmpty", ErrorKind.InvalidArgument, "A remote command needs at least its name.");
        var sb = new StringBuilder();
        for (var i = 0; i < argv.Count; i++)
        {
            if (i > 0) sb.Append(' ');
            sb.Append(QuoteWord(argv[i] ?? throw new LiveUpdateException("RemoteArgumentInvalid", ErrorKind.InvalidArgument, $"Argument {i} of a remote command is null.")));
        }
        return sb.ToString();
    }

    public static string Quote(params string[] argv) => Quote((IReadOnlyList<string>)argv);

    private static string QuoteWord(string word)
    {
        foreach (var c in word)
        {
            if (c == '\0' || (char.IsControl(c) && c != '\t' && c != '\n'))
                throw new LiveUpdateException("RemoteArgumentInvalid", ErrorKind.InvalidArgument,
                    $"An argument of a remote command holds the control character U+{(int)c:X4}; it cannot be passed to a remote shell.", null);
        }
        if (word.Length > 0 && word.All(IsPlain)) return word;
        return "'" + word.Replace("'", "'\\''") + "'";
    }

    private static bool IsPlain(char c) => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9')
        or '_' or '@' or '%' or '+' or '=' or ':' or ',' or '.' or '/' or '-';
}
