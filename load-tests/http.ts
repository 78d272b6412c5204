export async function runHttp(_quick: boolean): Promise<number> {
  throw new Error('http: not yet')
}
