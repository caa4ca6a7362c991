// The command line: the contract's arguments and defaults, both option syntaxes, clear errors
// with a non-zero exit, and dispatch to the subcommands (real child processes).
import { createServer } from 'node:net'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { DEFAULTS, parseServiceArgs, UsageError } from '../src/cli/args.js'
import type { ServiceConfig } from '../src/config.js'
import { runCli } from './helpers/service.js'
import { freePorts } from './helpers/ports.js'

function service(argv: string[], env: NodeJS.ProcessEnv = {}): ServiceConfig {
  const cmd = parseServiceArgs(argv, env)
  if (cmd.kind !== 'service') throw new Error(`expected a service command, got ${cmd.kind}`)
  return cmd.config
}

test('the contract defaults', () => {
  const c = service(['tcp://cam-host:9010', 'SARES11-SPEC125-M2'])
  assert.is(c.inputStream, 'tcp://cam-host:9010')
  assert.is(c.prefix, 'SARES11-SPEC125-M2')
  assert.is(c.dataPort, 8888)
  assert.is(c.imagePort, 8889)
  assert.is(c.restPort, 10000)
  assert.is(c.restInterface, '0.0.0.0')
  assert.is(c.logLevel, 'INFO')
  assert.is(c.autoStart, false)
  assert.is(c.inputMode, 'pull')
  assert.is(c.channelNaming, 'full')
  assert.is(c.dataSendTimeoutMs, 1)
  assert.is(c.dataQueue, 100)
  assert.is(c.imageQueue, 100)
  assert.is(c.inputQueue, 100)
  assert.equal([c.imageQueueMb, c.inputQueueMb], [512, 512])
  assert.is(c.previewRate, DEFAULTS.previewRate)
  // State survives by default (issue 17): one file per prefix and REST port.
  assert.match(
    c.stateFile ?? '',
    /\/\.local\/state\/psen-processing\/SARES11-SPEC125-M2-10000\.json$/,
  )
  assert.is(c.apiToken, undefined)
})

test('the production unit line, both syntaxes and short options', () => {
  const c = service([
    'tcp://cam-host:9010',
    'SARES11-SPEC125-M2',
    '--data_output_stream_port',
    '8895',
    '--image_output_stream_port',
    '8896',
    '--rest_api_port',
    '11002',
    '--log_level=INFO',
    '--auto_start',
  ])
  assert.equal(
    [c.dataPort, c.imagePort, c.restPort, c.logLevel, c.autoStart],
    [8895, 8896, 11002, 'INFO', true],
  )
  const s = service([
    'tcp://h:1',
    'P',
    '-o',
    '1',
    '-i',
    '2',
    '-r',
    '3',
    '--rest_api_interface=127.0.0.1',
    '--input_mode',
    'sub',
    '--channel_naming=short',
    '--data_send_timeout_ms',
    '2.5',
    '--data_queue=7',
    '--image_queue',
    '8',
    '--input_queue',
    '9',
    '--max_frame_bytes',
    '4096',
    '--state_file',
    '/tmp/s.json',
    '--api_token',
    'tok',
    '--preview_rate',
    '0',
    '--log_level',
    'debug',
  ])
  assert.equal([s.dataPort, s.imagePort, s.restPort, s.restInterface], [1, 2, 3, '127.0.0.1'])
  assert.equal(
    [s.inputMode, s.channelNaming, s.dataSendTimeoutMs, s.dataQueue, s.imageQueue, s.inputQueue],
    ['sub', 'short', 2.5, 7, 8, 9],
  )
  assert.equal(
    [s.maxFrameBytes, s.stateFile, s.apiToken, s.previewRate, s.logLevel],
    [4096, '/tmp/s.json', 'tok', 0, 'DEBUG'],
  )
  const mb = service(['tcp://h:1', 'P', '--image_queue_mb', '64', '--input_queue_mb=128'])
  assert.equal([mb.imageQueueMb, mb.inputQueueMb], [64, 128])
  assert.throws(() => service(['tcp://h:1', 'P', '--input_queue_mb', '0']), /input_queue_mb/)
  assert.is(service(['tcp://h:1', 'P'], { PSEN_API_TOKEN: 'env-token' }).apiToken, 'env-token')
  assert.is(service(['tcp://h:1', 'P', '--output_stream_port', '4444']).dataPort, 4444)
})

test('help, version and the demo (no positional arguments)', () => {
  assert.is(parseServiceArgs(['--help']).kind, 'help')
  assert.is(parseServiceArgs(['-h']).kind, 'help')
  assert.is(parseServiceArgs(['--version']).kind, 'version')
  const d = parseServiceArgs(['-r', '0'])
  assert.is(d.kind, 'demo')
})

test('bad command lines are UsageErrors that say what is wrong', () => {
  const bad: Array<[string[], RegExp]> = [
    [['tcp://h:1', 'P', '--no_such_option'], /no_such_option/],
    [['tcp://h:1', 'P', '-x'], /-x/],
    [['tcp://h:1', 'P', '-o', 'eighty'], /data_output_stream_port.*integer/],
    [['tcp://h:1', 'P', '-r', '70000'], /rest_api_port.*range/],
    [['tcp://h:1', 'P', '--log_level', 'VERBOSE'], /log_level.*CRITICAL/],
    [['tcp://h:1', 'P', '--input_mode', 'push'], /input_mode/],
    [['tcp://h:1', 'P', '-o', '5', '-i', '5'], /different ports/],
    [['tcp://h:1'], /PREFIX is missing/],
    [['h:1', 'P'], /tcp:\/\/host:port/],
    [['tcp://h:1', 'P', 'extra'], /unexpected argument/],
    [['tcp://h:1', 'P', '--data_send_timeout_ms', '-1'], /data_send_timeout_ms/],
  ]
  for (const [argv, why] of bad) {
    try {
      parseServiceArgs(argv, {})
      assert.unreachable(argv.join(' '))
    } catch (err) {
      assert.instance(err, UsageError, argv.join(' '))
      assert.match((err as Error).message, why)
    }
  }
})

test('unknown options and commands name the nearest known one; ports out of range', () => {
  const said = (argv: string[]): string => {
    try {
      parseServiceArgs(argv, {})
    } catch (err) {
      assert.instance(err, UsageError, argv.join(' '))
      return (err as Error).message
    }
    assert.unreachable(argv.join(' '))
    return ''
  }
  assert.is(
    said(['tcp://h:1', 'P', '--rest_api_prot', '5']),
    "unknown option '--rest_api_prot': did you mean --rest_api_port?",
  )
  assert.is(
    said(['tcp://h:1', 'P', '--rest_api_prot=5']),
    "unknown option '--rest_api_prot': did you mean --rest_api_port?",
  )
  assert.is(
    said(['tcp://h:1', 'P', '--auto-start']),
    "unknown option '--auto-start': did you mean --auto_start?",
  )
  assert.is(
    said(['tcp://h:1', 'P', '--output_mdoe', 'pub']),
    "unknown option '--output_mdoe': did you mean --output_mode?",
  )
  // Nothing near: no guess; a one-letter option gets none (every letter is near every other).
  assert.is(
    said(['tcp://h:1', 'P', '--completely_unrelated']),
    "unknown option '--completely_unrelated'",
  )
  assert.is(said(['tcp://h:1', 'P', '-x']), "unknown option '-x'")
  assert.is(said(['dunp']), "unknown command 'dunp': did you mean dump?")
  assert.is(said(['dunp', 'tcp://h:1', '-n', '3']), "unknown command 'dunp': did you mean dump?")
  assert.is(said(['simulat', '--port', '1']), "unknown command 'simulat': did you mean simulate?")
  assert.match(said(['hello']), /'hello' is neither a command \(dump, simulate\) nor INPUT_STREAM/)
  assert.is(
    said(['tcp://h:99999', 'P']),
    'INPUT_STREAM tcp://h:99999: port 99999 is out of range [1, 65535]',
  )
  assert.is(said(['tcp://h:0', 'P']), 'INPUT_STREAM tcp://h:0: port 0 is out of range [1, 65535]')
  assert.is(
    said(['tcp://h:1', 'P', '-o', '99999']),
    '--data_output_stream_port: 99999 is out of range [1, 65535]',
  )
})

test('--output_mode push|pub (default push, as the old service)', () => {
  assert.is(service(['tcp://h:1', 'P']).outputMode, 'push')
  assert.is(service(['tcp://h:1', 'P', '--output_mode', 'pub']).outputMode, 'pub')
  assert.is(service(['tcp://h:1', 'P', '--output_mode=PUSH']).outputMode, 'push')
  assert.throws(
    () => service(['tcp://h:1', 'P', '--output_mode', 'req']),
    /--output_mode: 'req' is not one of push, pub/,
  )
})

test('the command: --help exits 0, usage errors exit 2, a taken port exits 1', async () => {
  const help = runCli(['--help'])
  assert.is(await help.exited, 0)
  for (const opt of [
    '--data_output_stream_port',
    '--image_output_stream_port',
    '--rest_api_port',
    '--rest_api_interface',
    '--log_level',
    '--auto_start',
    '--input_mode',
    '--channel_naming',
    '--data_send_timeout_ms',
    '--state_file',
    '--api_token',
    '--preview_rate',
    '--output_mode',
  ]) {
    assert.match(help.output(), opt)
  }
  const unknown = runCli(['tcp://127.0.0.1:9', 'P', '--rest_api_prot', '1'])
  assert.is(await unknown.exited, 2)
  assert.is(
    unknown.output(),
    "psen-processing: unknown option '--rest_api_prot': did you mean " +
      "--rest_api_port?\nRun 'psen-processing --help' for usage.\n",
  )
  const typo = runCli(['dunp', 'tcp://127.0.0.1:9'])
  assert.is(await typo.exited, 2)
  assert.match(typo.output(), /^psen-processing: unknown command 'dunp': did you mean dump\?/)
  const badValue = runCli(['tcp://127.0.0.1:9', 'P', '--rest_api_port=abc'])
  assert.is(await badValue.exited, 2)

  // A taken REST port: a clear message and exit 1 (systemd restarts it), no hanging process.
  const [rest, data, image] = (await freePorts(3)) as [number, number, number]
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(rest, '127.0.0.1', resolve))
  try {
    const taken = runCli([
      'tcp://127.0.0.1:9',
      'P',
      '-r',
      String(rest),
      '-o',
      String(data),
      '-i',
      String(image),
      '--rest_api_interface',
      '127.0.0.1',
    ])
    assert.is(await taken.exited, 1)
    assert.match(taken.output(), /cannot serve HTTP/)
  } finally {
    blocker.close()
  }
})

test('subcommands are dispatched', async () => {
  const dump = runCli(['dump', '--help'])
  assert.is(await dump.exited, 0)
  assert.match(dump.output(), /dump/)
  const sim = runCli(['simulate', '--help'])
  assert.is(await sim.exited, 0)
  assert.match(sim.output(), /simulate/)
})

test.run()
