using System;
using System.IO;

namespace LiveUpdate.Engine.Tests;

/// <summary>A new folder under the system's temporary folder, removed with everything in it on Dispose.</summary>
public sealed class TestFolder : IDisposable
{
    public TestFolder(string prefix = "liveupdate-test")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine(Path, System.IO.Path.Combine(parts));

    public void Dispose()
    {
        if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
    }
}
