// A process-wide bound on body bytes held in memory: shadows' buffers (Traefik buffers mirrored bodies without one) and comparison captures.

export class ByteBudget {
  used = 0;
  constructor(
    public max: number,
    private readonly onChange?: (used: number) => void,
  ) {}

  take(n: number): boolean {
    if (this.used + n > this.max) return false;
    this.used += n;
    this.onChange?.(this.used);
    return true;
  }

  release(n: number): void {
    if (n <= 0) return;
    this.used = Math.max(0, this.used - n);
    this.onChange?.(this.used);
  }
}
