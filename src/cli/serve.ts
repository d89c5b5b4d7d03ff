export async function runServe(_argv: string[]): Promise<number> { return 2; }
