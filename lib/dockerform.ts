// Values in the form the Docker provider reads them back (design brief, fact 10).
//
// After every create and refresh the provider reads a container back from
// Docker and stores what it reads. An input that never equals its read-back
// is a diff on every update; for a field that forces replacement (cpus,
// log options) it is a replacement on every update — of Postgres included.
// So the program sends each such value exactly as it will be read back.

/**
 * `cpus` as kreuzwerker's provider (v3.9, under @pulumi/docker 4.11) reads it
 * back from HostConfig.NanoCPUs: nanos/1e9 printed with nine decimals; when
 * that text holds exactly nine zeros it is re-printed with one decimal
 * ("1.0", "0.5"), otherwise trailing zeros are trimmed ("0.25", "10.").
 */
export function providerCpus(cpus: number): string {
    const nanos = BigInt(Math.round(cpus * 1e9));
    if (nanos === 0n) return "0";
    const whole = nanos / 1_000_000_000n;
    const fraction = nanos % 1_000_000_000n;
    const nine = `${whole}.${fraction.toString().padStart(9, "0")}`;
    if ((nine.match(/0/g) ?? []).length === 9) return oneDecimal(nanos);
    return nine.replace(/0+$/, "");
}

// big.Rat.FloatString(1): rounded to one decimal, halves away from zero.
function oneDecimal(nanos: bigint): string {
    const tenths = (nanos + 50_000_000n) / 100_000_000n;
    return `${tenths / 10n}.${tenths % 10n}`;
}

/** True when Docker keeps `cpus` as given, so its read-back is the same number. */
export function cpusRoundTrip(cpus: number): boolean {
    return Number(providerCpus(cpus)) === cpus && Math.round(cpus * 1e9) > 0;
}

/**
 * A duration as Go's time.Duration.String() prints it — the form the provider
 * reads healthcheck intervals back in: 2 -> "2s", 60 -> "1m0s", 90 -> "1m30s".
 */
export function goDuration(seconds: number): string {
    if (!Number.isInteger(seconds) || seconds < 0) throw new Error(`goDuration: ${seconds} is not a whole number of seconds`);
    if (seconds === 0) return "0s";
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    if (h > 0) return `${h}h${m}m${s}s`;
    if (m > 0) return `${m}m${s}s`;
    return `${s}s`;
}

/**
 * Capabilities to add, as Docker stores them and the provider reads them back
 * (`CAP_CHOWN`, not `CHOWN`): given in the short form, a `pulumi refresh` made
 * them differ, and the next update planned the container's replacement. "ALL"
 * (a drop) is kept as it is.
 */
export function dockerCapabilities(names: string[]): string[] {
    return names.map((n) => (n === "ALL" || n.startsWith("CAP_") ? n : `CAP_${n}`));
}
