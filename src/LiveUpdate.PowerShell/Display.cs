using System;
using System.Collections;
using System.Globalization;
using System.Linq;
using System.Management.Automation;
using System.Text;
using System.Text.RegularExpressions;
using System.Collections.Generic;

namespace LiveUpdate.PowerShell;

/// <summary>
/// Text for the views in LiveUpdate.format.ps1xml. Every method takes what a view hands it, live objects or the
/// property bags that Import-Clixml gives back (Deserialized.*), so the views show both alike.
/// </summary>
public static class Display
{
    private static object? Base(object? value) => value is PSObject pso ? pso.BaseObject : value;

    /// <summary>The text of a value; a deserialized object keeps the text its original had.</summary>
    private static string Text(object? value) => value?.ToString() ?? "";

    /// <summary>A duration (seconds, or a TimeSpan) as a person reads it: 0.425s, 36.6s, 2m05s, 1h02m, 3d04h.</summary>
    public static string Duration(object? value)
    {
        var t = Base(value) switch
        {
            TimeSpan span => span,
            double seconds when !double.IsNaN(seconds) && !double.IsInfinity(seconds) && Math.Abs(seconds) < TimeSpan.MaxValue.TotalSeconds => TimeSpan.FromSeconds(seconds),
            int seconds => TimeSpan.FromSeconds(seconds),
            long seconds => TimeSpan.FromSeconds(seconds),
            _ => (TimeSpan?)null,
        };
        if (t is null) return Text(value);
        return Duration(t.Value);
    }

    private static string Duration(TimeSpan t)
    {
        var sign = t < TimeSpan.Zero ? "-" : "";
        t = t.Duration();
        var c = CultureInfo.InvariantCulture;
        if (t.TotalSeconds < 10) return sign + t.TotalSeconds.ToString("0.000", c) + "s";
        if (t.TotalSeconds < 60) return sign + t.TotalSeconds.ToString("0.0", c) + "s";
        if (t.TotalHours < 1) return sign + string.Format(c, "{0}m{1:00}s", (int)t.TotalMinutes, t.Seconds);
        if (t.TotalDays < 1) return sign + string.Format(c, "{0}h{1:00}m", (int)t.TotalHours, t.Minutes);
        return sign + string.Format(c, "{0}d{1:00}h", (int)t.TotalDays, t.Hours);
    }

    /// <summary>A point in time to the second (or the minute), with its offset; deserialized times show as they were.</summary>
    public static string Time(object? value, bool seconds = true) => Base(value) switch
    {
        DateTimeOffset t => t.ToString(seconds ? "yyyy-MM-dd HH:mm:ss zzz" : "yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
        DateTime t => t.ToString(seconds ? "yyyy-MM-dd HH:mm:ss" : "yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
        // Import-Clixml gives a DateTimeOffset back as its text in the invariant culture
        _ when DateTimeOffset.TryParse(Text(value), CultureInfo.InvariantCulture, DateTimeStyles.None, out var t) => Time(t, seconds),
        _ => Text(value),
    };

    /// <summary>The items of a list, comma-separated (disks, bundles).</summary>
    public static string List(object? value) => Base(value) switch
    {
        null => "",
        string s => s,
        IEnumerable items => string.Join(",", items.Cast<object?>().Select(Text)),
        _ => Text(value),
    };

    /// <summary>Megabytes as gigabytes with at most one decimal: 30720 → 30, 13824 → 13.5.</summary>
    public static string Gigabytes(object? megabytes) => Base(megabytes) switch
    {
        long mb => (mb / 1024.0).ToString("0.#", CultureInfo.InvariantCulture),
        int mb => (mb / 1024.0).ToString("0.#", CultureInfo.InvariantCulture),
        _ => Text(megabytes),
    };

    /// <summary>"available/total" of a resource.</summary>
    public static string Share(object? available, object? total, string unit = "") =>
        string.Format(CultureInfo.InvariantCulture, "{0}/{1}{2}", Number(available), Number(total), unit);

    private static string Number(object? value) => Base(value) switch
    {
        double d => d.ToString("0.##", CultureInfo.InvariantCulture),
        long l => l.ToString(CultureInfo.InvariantCulture),
        _ => Text(value),
    };

    /// <summary>One line per item, each from a format with the item's properties ({Name}, {Duration}, ...), wrapped at words to a width.</summary>
    public static string Lines(object? items, string format, int width = 0)
    {
        if (Base(items) is not IEnumerable list || Base(items) is string) return "";
        var text = new StringBuilder();
        foreach (var item in list)
        {
            if (text.Length > 0) text.Append('\n');
            var line = Fill(format, PSObject.AsPSObject(item));
            text.Append(width > 0 ? Wrap(line, width, "  ") : line);
        }
        return text.ToString();
    }

    /// <summary>
    /// Text broken into lines of at most <paramref name="width"/> characters at spaces, so that a view never cuts a
    /// word: PowerShell cuts wrapped values at the column's edge. A word longer than a line is broken after a '/',
    /// '-', '_' or ',' where it has one. Continuation lines start with <paramref name="indent"/>.
    /// </summary>
    public static string Wrap(object? value, int width, string indent = "")
    {
        var text = Text(Base(value));
        if (width < indent.Length + 16) return text;
        var lines = new List<string>();
        foreach (var paragraph in text.Split('\n'))
        {
            var line = new StringBuilder();
            var continuation = false; // the line holds only the indent of a continuation
            void NewLine()
            {
                lines.Add(line.ToString().TrimEnd());
                line.Clear().Append(indent);
                continuation = true;
            }
            foreach (Match m in Regex.Matches(paragraph, @"( *)(\S+)"))
            {
                var gap = m.Groups[1].Value;
                var word = m.Groups[2].Value;
                while (true)
                {
                    var lead = continuation ? "" : gap;
                    if (line.Length + lead.Length + word.Length <= width)
                    {
                        line.Append(lead).Append(word);
                        continuation = false;
                        break;
                    }
                    if (!continuation && line.Length > 0)
                    {
                        NewLine();
                        continue;
                    }
                    // A word longer than a whole line: break it after a separator within the room left.
                    var room = Math.Max(1, width - line.Length);
                    var cut = word.Substring(0, Math.Min(room, word.Length)).LastIndexOfAny(Separators) + 1;
                    if (cut <= 0) cut = Math.Min(room, word.Length);
                    line.Append(word, 0, cut);
                    word = word.Substring(cut);
                    NewLine();
                    if (word.Length == 0) break;
                }
            }
            lines.Add(line.ToString().TrimEnd());
        }
        while (lines.Count > 1 && lines[^1].Trim().Length == 0 && !text.EndsWith('\n')) lines.RemoveAt(lines.Count - 1);
        return string.Join("\n", lines);
    }

    private static readonly char[] Separators = { '/', '-', '_', ',' };

    private static string Fill(string format, PSObject item)
    {
        var text = new StringBuilder();
        var i = 0;
        while (i < format.Length)
        {
            var open = format.IndexOf('{', i);
            if (open < 0) { text.Append(format, i, format.Length - i); break; }
            var close = format.IndexOf('}', open);
            if (close < 0) { text.Append(format, i, format.Length - i); break; }
            text.Append(format, i, open - i);
            // {Name}, {Name,-8} (padded), {Flag:YES|NO} (a boolean's two words), {Seconds:s} (a duration)
            var spec = format.Substring(open + 1, close - open - 1).Split(',', 2);
            var words = spec[0].Split(':', 2);
            var value = item.Properties[words[0]]?.Value;
            var shown = Base(value) switch
            {
                _ when words.Length == 2 && words[1] == "s" => Duration(value),
                TimeSpan => Duration(value),
                bool b when words.Length == 2 && words[1].Split('|') is { Length: 2 } pair => b ? pair[0] : pair[1],
                bool b => b ? "yes" : "no",
                IEnumerable e when Base(value) is not string => List(e),
                _ => Text(value),
            };
            if (spec.Length == 2 && int.TryParse(spec[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var width))
                shown = width < 0 ? shown.PadRight(-width) : shown.PadLeft(width);
            text.Append(shown);
            i = close + 1;
        }
        return text.ToString();
    }
}

/// <summary>
/// Converts what Import-Clixml gives back for an OS level (a property bag whose text is 7300-02-01) into an OsLevel
/// again, so that deserialized results compare levels as live ones do. Registered in LiveUpdate.types.ps1xml.
/// </summary>
public sealed class OsLevelTypeConverter : PSTypeConverter
{
    private static string? Text(object? source) => source?.ToString();

    public override bool CanConvertFrom(object sourceValue, Type destinationType) =>
        destinationType == typeof(LiveUpdate.Engine.Model.OsLevel) && LiveUpdate.Engine.Model.OsLevel.TryParse(Text(sourceValue), out _);

    public override object ConvertFrom(object sourceValue, Type destinationType, IFormatProvider formatProvider, bool ignoreCase) =>
        LiveUpdate.Engine.Model.OsLevel.TryParse(Text(sourceValue), out var level)
            ? level!
            : throw new PSInvalidCastException($"'{Text(sourceValue)}' is not an OS level such as 7300-02-01.");

    public override bool CanConvertTo(object sourceValue, Type destinationType) => false;

    public override object ConvertTo(object sourceValue, Type destinationType, IFormatProvider formatProvider, bool ignoreCase) =>
        throw new PSInvalidCastException();
}
