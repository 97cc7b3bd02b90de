using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using LiveUpdate.Engine.Flow;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LiveUpdate.Engine.Backends.Host;

/// <summary>What one external command did.</summary>
public sealed record CommandResult(string Command, int ExitCode, string StandardOutput, string StandardError, TimeSpan Duration)
{
    public bool Succeeded => ExitCode == 0;
}

/// <summary>An external command that failed: the command line, its exit code and what it wrote to standard error.</summary>
public sealed class CommandFailedException : LiveUpdateException
{
    public CommandFailedException(string command, int exitCode, string standardError, string? purpose = null)
        : base("CommandFailed", ErrorKind.DeviceError,
            $"{(purpose is null ? "" : purpose + ": ")}'{command}' exited with {exitCode}{(string.IsNullOrWhiteSpace(standardError) ? "." : ": " + Trim(standardError))}",
            command)
    {
        Command = command;
        ExitCode = exitCode;
        StandardError = standardError;
    }

    public string Command { get; }
    public int ExitCode { get; }
    public string StandardError { get; }

    private static string Trim(string text)
    {
        var t = text.Trim();
        return t.Length <= 2000 ? t : t.Substring(0, 2000) + " ...";
    }
}

/// <summary>
/// Runs external commands from argument vectors (never a shell string), logs each one with its exit code and
/// duration through the caller's logger (Information, which the cmdlets write as Verbose), and turns a failure into
/// a <see cref="CommandFailedException"/> that carries the command, the exit code and standard error.
/// </summary>
public sealed class CommandRunner
{
    /// <summary>How long a command may run unless the caller says otherwise.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(10);

    /// <summary>How long to wait for the output streams after a command has exited (a daemon it started may keep them open).</summary>
    private static readonly TimeSpan StreamGrace = TimeSpan.FromSeconds(2);

    /// <summary>The command line as a log shows it: each argument quoted where it needs to be.</summary>
    public static string Format(string file, IEnumerable<string> arguments) =>
        string.Join(" ", new[] { file }.Concat(arguments).Select(Quote));

    internal static string Quote(string argument)
    {
        if (argument.Length == 0) return "''";
        foreach (var c in argument)
        {
            if (!(char.IsLetterOrDigit(c) || "-_./=:,@+%^".IndexOf(c) >= 0))
                return "'" + argument.Replace("'", "'\\''") + "'";
        }
        return argument;
    }

    /// <summary>Runs a command and returns its result whatever its exit code.</summary>
    public CommandResult Probe(string file, IReadOnlyList<string> arguments, ILogger? logger = null, TimeSpan? timeout = null, string? standardInputFile = null,
        CancellationToken cancellation = default)
    {
        var log = logger ?? NullLogger.Instance;
        var command = Format(file, arguments);
        var psi = NewStartInfo(file, arguments);
        psi.RedirectStandardInput = true;
        var clock = Stopwatch.StartNew();
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new CommandFailedException(command, -1, "the process could not be started");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            log.LogInformation("{Command} could not start: {Error}", command, e.Message);
            throw new CommandFailedException(command, 127, e.Message);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            Task feed = Task.CompletedTask;
            if (standardInputFile is not null)
            {
                feed = Task.Run(() =>
                {
                    try
                    {
                        using var input = File.OpenRead(standardInputFile);
                        input.CopyTo(process.StandardInput.BaseStream);
                    }
                    catch (IOException)
                    {
                        // The command stopped reading; its exit code tells what happened.
                    }
                    finally
                    {
                        try { process.StandardInput.Close(); } catch (IOException) { }
                    }
                });
            }
            else
            {
                process.StandardInput.Close();
            }
            WaitOrKill(process, command, timeout ?? DefaultTimeout, cancellation, log);
            feed.Wait(StreamGrace);
            var result = new CommandResult(command, process.ExitCode, Collect(stdout), Collect(stderr), clock.Elapsed);
            Log(log, result);
            return result;
        }
    }

    /// <summary>Runs a command and throws <see cref="CommandFailedException"/> unless it exits with 0.</summary>
    public CommandResult Run(string file, IReadOnlyList<string> arguments, ILogger? logger = null, TimeSpan? timeout = null, string? purpose = null,
        string? standardInputFile = null, CancellationToken cancellation = default)
    {
        var result = Probe(file, arguments, logger, timeout, standardInputFile, cancellation);
        if (!result.Succeeded) throw new CommandFailedException(result.Command, result.ExitCode, result.StandardError, purpose);
        return result;
    }

    /// <summary>
    /// Runs <c>producer | consumer</c> without a shell: the producer's standard output is copied into the consumer's
    /// standard input. Throws when either fails; the error names the one that did.
    /// </summary>
    public (CommandResult Producer, CommandResult Consumer) Pipe(string producerFile, IReadOnlyList<string> producerArguments,
        string consumerFile, IReadOnlyList<string> consumerArguments, ILogger? logger = null, TimeSpan? timeout = null, string? purpose = null,
        CancellationToken cancellation = default)
    {
        var log = logger ?? NullLogger.Instance;
        var producerCommand = Format(producerFile, producerArguments);
        var consumerCommand = Format(consumerFile, consumerArguments);
        var clock = Stopwatch.StartNew();
        var producerInfo = NewStartInfo(producerFile, producerArguments);
        var consumerInfo = NewStartInfo(consumerFile, consumerArguments);
        consumerInfo.RedirectStandardInput = true;
        Process consumer;
        try
        {
            consumer = Process.Start(consumerInfo) ?? throw new CommandFailedException(consumerCommand, -1, "the process could not be started", purpose);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new CommandFailedException(consumerCommand, 127, e.Message, purpose);
        }
        using (consumer)
        {
            Process producer;
            try
            {
                producer = Process.Start(producerInfo) ?? throw new CommandFailedException(producerCommand, -1, "the process could not be started", purpose);
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                consumer.StandardInput.Close();
                consumer.WaitForExit();
                throw new CommandFailedException(producerCommand, 127, e.Message, purpose);
            }
            using (producer)
            {
                var consumerOut = consumer.StandardOutput.ReadToEndAsync();
                var consumerErr = consumer.StandardError.ReadToEndAsync();
                var producerErr = producer.StandardError.ReadToEndAsync();
                var copy = Task.Run(() =>
                {
                    try
                    {
                        producer.StandardOutput.BaseStream.CopyTo(consumer.StandardInput.BaseStream, 1 << 20);
                    }
                    catch (IOException)
                    {
                        // The consumer stopped reading; its exit code says why.
                    }
                    finally
                    {
                        try { consumer.StandardInput.Close(); } catch (IOException) { }
                    }
                });
                var limit = timeout ?? DefaultTimeout;
                WaitOrKill(producer, producerCommand, limit, cancellation, log);
                copy.Wait(limit);
                WaitOrKill(consumer, consumerCommand, limit, cancellation, log);
                var p = new CommandResult(producerCommand, producer.ExitCode, "", Collect(producerErr), clock.Elapsed);
                var c = new CommandResult(consumerCommand, consumer.ExitCode, Collect(consumerOut), Collect(consumerErr), clock.Elapsed);
                log.LogInformation("{Producer} | {Consumer} exited {ProducerExit} | {ConsumerExit} in {Milliseconds} ms",
                    producerCommand, consumerCommand, p.ExitCode, c.ExitCode, (long)clock.Elapsed.TotalMilliseconds);
                if (!p.Succeeded) throw new CommandFailedException(producerCommand, p.ExitCode, p.StandardError, purpose);
                if (!c.Succeeded) throw new CommandFailedException(consumerCommand, c.ExitCode, c.StandardError, purpose);
                return (p, c);
            }
        }
    }

    private static ProcessStartInfo NewStartInfo(string file, IReadOnlyList<string> arguments)
    {
        var psi = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            CreateNoWindow = true,
        };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        // Tools print messages in the C locale so that errors read the same everywhere.
        psi.Environment["LC_ALL"] = "C";
        return psi;
    }

    private static void WaitOrKill(Process process, string command, TimeSpan timeout, CancellationToken cancellation, ILogger log)
    {
        var deadline = Stopwatch.StartNew();
        while (!process.WaitForExit(50))
        {
            if (cancellation.IsCancellationRequested || deadline.Elapsed > timeout)
            {
                try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                process.WaitForExit();
                var why = cancellation.IsCancellationRequested ? "was cancelled" : $"ran longer than {timeout.TotalSeconds:0} s";
                log.LogInformation("{Command} {Why} and was killed", command, why);
                if (cancellation.IsCancellationRequested)
                    throw new LiveUpdateException("OperationCancelled", ErrorKind.OperationStopped, $"'{command}' was cancelled.", command);
                throw new CommandFailedException(command, process.ExitCode, $"timed out after {timeout.TotalSeconds:0} s");
            }
        }
    }

    private static string Collect(Task<string> stream) => stream.Wait(StreamGrace) ? stream.Result : "";

    private static void Log(ILogger log, CommandResult r)
    {
        if (r.Succeeded)
            log.LogInformation("{Command} exited 0 in {Milliseconds} ms", r.Command, (long)r.Duration.TotalMilliseconds);
        else
            log.LogInformation("{Command} exited {ExitCode} in {Milliseconds} ms: {StandardError}", r.Command, r.ExitCode, (long)r.Duration.TotalMilliseconds,
                r.StandardError.Trim());
    }
}
