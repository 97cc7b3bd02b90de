using System;
using System.Collections.Concurrent;
using System.IO;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.PowerShell.Logging;

/// <summary>One log entry waiting to be written on the pipeline thread.</summary>
internal sealed record LogEntry(DateTimeOffset Time, LogLevel Level, string Category, string Message, Exception? Exception);

/// <summary>
/// The engine logs through ILogger from any thread; this logger only queues. The cmdlet drains the queue on the
/// pipeline thread into Verbose, Debug, Information and Warning, and optionally appends every entry to a JSON-lines
/// audit log.
/// </summary>
internal sealed class CmdletLogger : ILogger
{
    private readonly ConcurrentQueue<LogEntry> _queue;
    private readonly string _category;

    public CmdletLogger(ConcurrentQueue<LogEntry> queue, string category)
    {
        _queue = queue;
        _category = category;
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel)) return;
        _queue.Enqueue(new LogEntry(DateTimeOffset.UtcNow, logLevel, _category, formatter(state, exception), exception));
    }
}

/// <summary>Appends log entries as JSON lines (time, level, category, message, operation) to an audit file.</summary>
internal static class JsonLinesLog
{
    public static void Append(string path, LogEntry entry, string? operation)
    {
        var line = JsonSerializer.Serialize(new
        {
            time = entry.Time.ToString("o"),
            level = entry.Level.ToString(),
            category = entry.Category,
            message = entry.Message,
            operation,
            exception = entry.Exception?.Message,
        });
        File.AppendAllText(path, line + "\n");
    }
}
