namespace LiveUpdate.Engine.Model;

/// <summary>How a check of a host description against the real system came out.</summary>
public enum FindingStatus : long { Passed, Warning, Failed }

/// <summary>One finding of Test-LiveUpdateHost: what was checked, on what, how it came out and why.</summary>
public sealed record HostFinding(string Check, string Target, FindingStatus Status, string Message);
