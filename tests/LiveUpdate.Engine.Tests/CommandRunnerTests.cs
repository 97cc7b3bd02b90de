using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Backends.Host;
using LiveUpdate.Engine.Flow;
using Microsoft.Extensions.Logging;
using Xunit;

namespace LiveUpdate.Engine.Tests;

/// <summary>A test that needs a Unix shell and coreutils; skipped with that reason elsewhere.</summary>
public sealed class UnixFactAttribute : FactAttribute
{
    public UnixFactAttribute()
    {
        if (!OperatingSystem.IsLinux()) Skip = "needs Linux (/bin/sh, coreutils)";
    }
}

/// <summary>The command runner of the Linux backends: argument vectors, logging, failures with exit code and standard error.</summary>
public class CommandRunnerTests
{
    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, string Message)> Entries { get; } = new();
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => Entries.Add((logLevel, formatter(state, exception)));
    }

    private static string Sh => File.Exists("/bin/sh") ? "/bin/sh" : "/usr/bin/sh";

    [UnixFact]
    public void Passes_each_argument_as_it_is_without_a_shell()
    {
        var runner = new CommandRunner();
        var weird = "a b; echo injected $(id) 'q' \"d\"";
        var r = runner.Run("/usr/bin/printf", new[] { "%s|", weird, "" });
        Assert.Equal(weird + "||", r.StandardOutput);
    }

    [UnixFact]
    public void Logs_the_command_line_and_its_exit_code()
    {
        var log = new ListLogger();
        new CommandRunner().Run(Sh, new[] { "-c", "exit 0" }, log);
        var entry = Assert.Single(log.Entries);
        Assert.Equal(LogLevel.Information, entry.Level);
        Assert.Contains($"{Sh} -c 'exit 0' exited 0", entry.Message);
    }

    [UnixFact]
    public void A_failure_carries_the_command_the_exit_code_and_standard_error()
    {
        var log = new ListLogger();
        var e = Assert.Throws<CommandFailedException>(() =>
            new CommandRunner().Run(Sh, new[] { "-c", "echo broken disk >&2; exit 3" }, log, purpose: "Testing"));
        Assert.Equal("CommandFailed", e.ErrorId);
        Assert.Equal(ErrorKind.DeviceError, e.Kind);
        Assert.Equal(3, e.ExitCode);
        Assert.Equal($"{Sh} -c 'echo broken disk >&2; exit 3'", e.Command);
        Assert.Contains("broken disk", e.StandardError);
        Assert.StartsWith("Testing: ", e.Message);
        Assert.Contains(log.Entries, x => x.Message.Contains("exited 3"));
    }

    [UnixFact]
    public void Probe_returns_a_failure_instead_of_throwing()
    {
        var r = new CommandRunner().Probe(Sh, new[] { "-c", "printf out; exit 2" });
        Assert.False(r.Succeeded);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("out", r.StandardOutput);
    }

    [Fact]
    public void A_missing_program_is_a_command_failure_with_exit_code_127()
    {
        var e = Assert.Throws<CommandFailedException>(() => new CommandRunner().Run("/nonexistent/tool", Array.Empty<string>()));
        Assert.Equal(127, e.ExitCode);
    }

    [UnixFact]
    public void Pipes_one_process_into_another()
    {
        var (producer, consumer) = new CommandRunner().Pipe(Sh, new[] { "-c", "seq 1 100000" }, "/usr/bin/wc", new[] { "-l" });
        Assert.True(producer.Succeeded);
        Assert.Equal("100000", consumer.StandardOutput.Trim());
    }

    [UnixFact]
    public void A_pipe_fails_with_the_side_that_failed()
    {
        var e = Assert.Throws<CommandFailedException>(() =>
            new CommandRunner().Pipe(Sh, new[] { "-c", "echo half; echo send failed >&2; exit 4" }, "/usr/bin/wc", new[] { "-l" }));
        Assert.Equal(4, e.ExitCode);
        Assert.Contains("send failed", e.StandardError);
        var c = Assert.Throws<CommandFailedException>(() =>
            new CommandRunner().Pipe(Sh, new[] { "-c", "echo data" }, Sh, new[] { "-c", "cat >/dev/null; echo receive failed >&2; exit 5" }));
        Assert.Equal(5, c.ExitCode);
        Assert.Contains("receive failed", c.StandardError);
    }

    [UnixFact]
    public void Feeds_a_file_to_standard_input()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "one\ntwo\nthree\n");
            var r = new CommandRunner().Run("/usr/bin/wc", new[] { "-l" }, standardInputFile: file);
            Assert.Equal("3", r.StandardOutput.Trim());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [UnixFact]
    public void A_command_that_runs_too_long_is_killed_and_reported()
    {
        var e = Assert.Throws<CommandFailedException>(() => new CommandRunner().Run(Sh, new[] { "-c", "sleep 30" }, timeout: TimeSpan.FromMilliseconds(200)));
        Assert.Contains("timed out", e.StandardError);
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("/dev/loop0", "/dev/loop0")]
    [InlineData("with space", "'with space'")]
    [InlineData("it's", "'it'\\''s'")]
    [InlineData("", "''")]
    public void Quotes_only_what_needs_quoting(string argument, string expected) => Assert.Equal(expected, CommandRunner.Quote(argument));
}
