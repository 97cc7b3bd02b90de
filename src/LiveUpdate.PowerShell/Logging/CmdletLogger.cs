using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Threading;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.PowerShell.Logging;

/// <summary>One log entry waiting to be written on the pipeline thread (or into a job's streams).</summary>
internal sealed record LogEntry(
    DateTimeOffset Time,
    LogLevel Level,
    string Category,
    string Message,
    Exception? Exception,
    IReadOnlyList<KeyValuePair<string, object?>> Properties)
{
    /// <summary>The operation the entry belongs to, from its properties or its logging scope.</summary>
    public string? OperationId => Properties.LastOrDefault(p => p.Key is "OperationId" or "Operation").Value?.ToString();
}

/// <summary>
/// The engine logs through ILogger from any thread; this logger only hands each entry on (to a queue that the
/// pipeline thread drains, or straight into a job's thread-safe streams). Scopes whose state is a list of
/// key/value pairs (e.g. the OperationId of a live update) are added to every entry logged inside them.
/// </summary>
internal sealed class CmdletLogger : ILogger
{
    private readonly Action<LogEntry> _sink;
    private readonly string _category;
    private readonly AsyncLocal<Scope?> _scope = new();

    public CmdletLogger(Action<LogEntry> sink, string category)
    {
        _sink = sink;
        _category = category;
    }

    public IDisposable BeginScope<TState>(TState state) where TState : notnull
    {
        var scope = new Scope(this, _scope.Value, state as IEnumerable<KeyValuePair<string, object?>> ?? Array.Empty<KeyValuePair<string, object?>>());
        _scope.Value = scope;
        return scope;
    }

    public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel)) return;
        var properties = new List<KeyValuePair<string, object?>>();
        for (var s = _scope.Value; s is not null; s = s.Parent) properties.InsertRange(0, s.Values);
        if (state is IEnumerable<KeyValuePair<string, object?>> values) properties.AddRange(values);
        _sink(new LogEntry(DateTimeOffset.UtcNow, logLevel, _category, formatter(state, exception), exception, properties));
    }

    private sealed class Scope : IDisposable
    {
        private readonly CmdletLogger _owner;

        public Scope(CmdletLogger owner, Scope? parent, IEnumerable<KeyValuePair<string, object?>> values)
        {
            _owner = owner;
            Parent = parent;
            Values = values.ToList();
        }

        public Scope? Parent { get; }
        public List<KeyValuePair<string, object?>> Values { get; }

        public void Dispose()
        {
            if (ReferenceEquals(_owner._scope.Value, this)) _owner._scope.Value = Parent;
        }
    }
}

/// <summary>
/// The audit log: one JSON object per line (time, level, category, command, operation, message, the message
/// template and its values, exception), appended under a lock so that threads and jobs never interleave lines.
/// </summary>
internal static class JsonLinesLog
{
    private static readonly object Gate = new();
    private static readonly JsonSerializerOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void Append(string path, LogEntry entry, string command, string? operation)
    {
        var data = new SortedDictionary<string, object?>(StringComparer.Ordinal);
        string? template = null;
        foreach (var (key, value) in entry.Properties)
        {
            if (key == "{OriginalFormat}") template = value?.ToString();
            else if (key is not ("OperationId" or "Operation")) data[key] = Plain(value);
        }
        Write(path, new Dictionary<string, object?>
        {
            ["time"] = entry.Time.ToString("o", CultureInfo.InvariantCulture),
            ["level"] = entry.Level.ToString(),
            ["category"] = entry.Category,
            ["command"] = command,
            ["operation"] = entry.OperationId ?? operation,
            ["message"] = entry.Message,
            ["template"] = template,
            ["data"] = data.Count == 0 ? null : data,
            ["exception"] = entry.Exception?.Message,
        });
    }

    /// <summary>An audit event of the command itself: started (with its parameters), error, finished.</summary>
    public static void Event(string path, string level, string command, string? operation, string message, IDictionary<string, object?>? data = null)
        => Write(path, new Dictionary<string, object?>
        {
            ["time"] = DateTimeOffset.UtcNow.ToString("o", CultureInfo.InvariantCulture),
            ["level"] = level,
            ["category"] = "LiveUpdate.Audit",
            ["command"] = command,
            ["operation"] = operation,
            ["message"] = message,
            ["data"] = data?.ToDictionary(kv => kv.Key, kv => Plain(kv.Value)),
        });

    private static void Write(string path, Dictionary<string, object?> record)
    {
        var line = JsonSerializer.Serialize(record, Options) + "\n";
        lock (Gate)
        {
            using var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
            var bytes = Encoding.UTF8.GetBytes(line);
            stream.Write(bytes, 0, bytes.Length);
        }
    }

    /// <summary>Numbers, booleans and strings stay as they are; lists become arrays; anything else its text.</summary>
    private static object? Plain(object? value) => value switch
    {
        null => null,
        string or bool or int or long or double or decimal or float => value,
        System.Management.Automation.PSObject pso => Plain(pso.BaseObject),
        System.Management.Automation.SwitchParameter sw => sw.IsPresent,
        TimeSpan t => t.TotalSeconds,
        System.Collections.IEnumerable list => list.Cast<object?>().Select(Plain).ToArray(),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture),
    };
}
