// npm node-smsc 0.2.3 against msgemu: every call the library offers, printing what it returned
// as one JSON object (compat/conftest.py run_node). Only `request` (the base URL) differs from
// production; the password goes as its MD5, as the library does by default.
const initSmsc = require('node-smsc')

const root = process.argv[2] // http://127.0.0.1:<port>/smsc/sys/
const smsc = initSmsc({ login: 'demo', password: 'demo-password', request: root })
const wrong = initSmsc({ login: 'demo', password: 'wrong', request: root })

async function outcome (promise) {
  try {
    return { ok: await promise }
  } catch (err) {
    return { error: err.response || String(err) }
  }
}

async function main () {
  const out = {}
  out.send = await outcome(smsc.send({ phones: '79001234567', mes: 'Ваш код 1234', cost: 3 }))
  out.sendMany = await outcome(smsc.send({ phones: '79001230001,79001230002', mes: 'x'.repeat(161) }))
  out.cost = await outcome(smsc.send({ phones: '79001234567', mes: 'quote', cost: 1 }))
  out.status = await outcome(smsc.status({ phone: '79001234567', id: 1, all: 1 }))
  out.statusUnknown = await outcome(smsc.status({ phone: '79001234567', id: 99 }))
  out.balance = await outcome(smsc.balance({ cur: 1 }))
  out.badLogin = await outcome(wrong.balance())
  out.invalidNumber = await outcome(smsc.send({ phones: '79000000301', mes: 'x' }))
  out.noMoney = await outcome(smsc.send({ phones: '79000000303', mes: 'x' }))
  out.addGroup = await outcome(smsc.phones({ add_group: 1, name: 'Clients' }))
  out.addContact = await outcome(smsc.phones({ add: 1, phone: '79001112233', name: 'Ivan', grp: out.addGroup.ok && out.addGroup.ok.id }))
  out.contacts = await outcome(smsc.phones({ get: 1 }))
  out.groups = await outcome(smsc.phones({ get_group: 1 }))
  out.moveGroup = await outcome(smsc.phones({ move_group: 3, grp: out.addGroup.ok && out.addGroup.ok.id, phone: '79001112233' }))
  out.addBlack = await outcome(smsc.phones({ add_black: 1, phone: '79005556677' }))
  out.blacklisted = await outcome(smsc.send({ phones: '79005556677', mes: 'x' }))
  out.delBlack = await outcome(smsc.phones({ del_black: 1, phone: '79005556677' }))
  out.delContact = await outcome(smsc.phones({ del: 1, phone: '79001112233' }))
  out.job = await outcome(smsc.jobs({ add: 1, name: 'Promo', phones: '79001230003', mes: 'Sale', time: '+60' }))
  out.jobCancel = await outcome(smsc.jobs({ cancel: 1, id: out.job.ok && out.job.ok.id }))
  out.senders = await outcome(smsc.senders({ get: 1 }))
  out.templateAdd = await outcome(smsc.templates({ add: 1, name: 'welcome', msg: 'Hello!', format: 'sms' }))
  out.templates = await outcome(smsc.templates({ get: 1 }))
  out.info = await outcome(smsc.info({ get_operator: 1, phone: '79161234567' }))
  out.messages = await outcome(smsc.get({ get_messages: 1, phone: '79001234567' }))
  out.noMessages = await outcome(smsc.get({ get_messages: 1, phone: '79009999999' }))
  out.answers = await outcome(smsc.get({ get_answers: 1 }))
  out.stat = await outcome(smsc.get({ get_stat: 1 }))
  out.megaAccounts = await outcome(smsc.get({ get_mega_accounts: 1 }))
  out.price = await outcome(smsc.get({ get_price: 1 }))
  out.mnp = await outcome(smsc.get_mnp({ date: '23.11.2026' }))
  out.receivePhones = await outcome(smsc.receive_phones({ get: 1 }))
  out.users = await outcome(smsc.users({ get: 1 }))
  out.userAdd = await outcome(smsc.users({ add: 1, user: 'sub1', password: 'pw' }))
  out.userChange = await outcome(smsc.users({ chg: 1, user: 'sub1', fio: 'User From Test' }))
  out.del = await outcome(smsc.status({ phone: '79001234567', id: 1, del: 1 }))
  console.log(JSON.stringify(out))
}

main().catch(err => { console.error(err); process.exit(1) })
