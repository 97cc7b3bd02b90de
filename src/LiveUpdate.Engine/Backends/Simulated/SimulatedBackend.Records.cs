using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends.Simulated;

/// <summary>The virtual clock and the applications' writes: records fall due as time passes and reach every copy of their volume group.</summary>
public sealed partial class SimulatedBackend
{
    /// <summary>
    /// Moves the virtual clock on. The applications of the domain being changed append the records that fall due at
    /// once; those of other domains catch up when a change next works in their domain, with the same records at the
    /// same times, so the cost of a change does not grow with the number of partitions.
    /// </summary>
    internal void Advance(LabState s, TimeSpan span)
    {
        if (span <= TimeSpan.Zero) return;
        s.Clock += span;
        if (s.CurrentDomain is not null) CatchUp(s, s.CurrentDomain);
    }

    /// <summary>Writes the records that the domain's running applications acknowledged up to the clock.</summary>
    private void CatchUp(LabState s, string domain)
    {
        var members = new HashSet<string>(s.Partitions.Where(p => string.Equals(p.SurrogateOf ?? p.Name, domain, StringComparison.OrdinalIgnoreCase)).Select(p => p.Name),
            StringComparer.OrdinalIgnoreCase);
        foreach (var app in s.Applications.Where(a => members.Contains(a.Partition)))
        {
            var start = app.LastTick;
            var span = s.Clock - start;
            app.LastTick = s.Clock;
            if (!app.Running || span <= TimeSpan.Zero) continue;
            app.Accrued += span.TotalSeconds * app.RecordsPerSecond;
            var count = (long)Math.Floor(app.Accrued);
            if (count <= 0) continue;
            app.Accrued -= count;
            var text = new StringBuilder();
            for (long i = 0; i < count; i++)
            {
                var at = start + TimeSpan.FromTicks(span.Ticks * (i + 1) / count);
                text.Append(FormatRecord(app.NextSequence++, at, app.Name, app.Partition));
            }
            foreach (var folder in CopiesOf(s, app.DataVg))
            {
                var file = Under(folder, app.DataPath);
                Directory.CreateDirectory(Path.GetDirectoryName(file)!);
                File.AppendAllText(file, text.ToString());
            }
        }
    }

    internal static string FormatRecord(long sequence, DateTimeOffset at, string app, string partition) =>
        string.Format(CultureInfo.InvariantCulture, "{0:D8} {1:yyyy-MM-ddTHH:mm:ss.fffZ} {2} {3}\n", sequence, at.UtcDateTime, app, partition);

    /// <summary>Every folder that receives a write to the volume group: its own, its mirror copies, its replicas'.</summary>
    private IEnumerable<string> CopiesOf(LabState s, string vgId) =>
        CopiesOfVg(s, vgId).SelectMany(vg => new[] { Content(vg) }.Concat(vg.MirrorDisks.Select(Folder)));

    /// <summary>Reads the sequence numbers of an application's data file on one volume group.</summary>
    internal IReadOnlyList<long> ReadRecords(VgRecord vg, string dataPath)
    {
        var file = Under(Content(vg), dataPath);
        if (!File.Exists(file)) return Array.Empty<long>();
        return File.ReadLines(file).Where(l => l.Length >= 8).Select(l => long.Parse(l.Substring(0, 8), CultureInfo.InvariantCulture)).ToList();
    }

    private static void CopyTree(string from, string to, Action<double>? progress = null)
    {
        if (Directory.Exists(to)) Directory.Delete(to, recursive: true);
        Directory.CreateDirectory(to);
        if (!Directory.Exists(from)) return;
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        var files = Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories).Select(f => new FileInfo(f)).ToList();
        var total = Math.Max(1, files.Sum(f => f.Length));
        long copied = 0;
        foreach (var file in files)
        {
            File.Copy(file.FullName, Path.Combine(to, Path.GetRelativePath(from, file.FullName)), overwrite: true);
            copied += file.Length;
            progress?.Invoke((double)copied / total);
        }
    }

    /// <summary>Reports a copy of <paramref name="megabytes"/> that takes <paramref name="duration"/> on the virtual clock.</summary>
    private static Action<double> CopyProgress(OperationContext context, string activity, long megabytes, TimeSpan duration)
    {
        var last = -1;
        context.Report(activity, $"0 of {megabytes} MB", 0, duration);
        return share =>
        {
            var percent = (int)(share * 100);
            if (percent == last) return;
            last = percent;
            context.Report(activity, $"{(long)(share * megabytes)} of {megabytes} MB", percent, TimeSpan.FromTicks((long)(duration.Ticks * (1 - share))));
        };
    }

    private static void CopyDone(OperationContext context, string activity, long megabytes)
        => context.Report(activity, $"{megabytes} of {megabytes} MB", 100, TimeSpan.Zero, completed: true);

    private void Wipe(string disk)
    {
        var folder = Folder(disk);
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
    }

    private static IEnumerable<VgRecord> CopiesOfVg(LabState s, string vgId)
    {
        var seen = new HashSet<string>();
        var queue = new Queue<string>(new[] { vgId });
        while (queue.Count > 0)
        {
            var vg = s.Vg(queue.Dequeue());
            if (vg is null || !seen.Add(vg.Id)) continue;
            yield return vg;
            foreach (var r in vg.ReplicaVgs) queue.Enqueue(r);
        }
    }
}
