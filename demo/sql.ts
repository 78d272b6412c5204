/**
 * Every statement the demo runs. They are constants with `?` placeholders: values never become
 * part of the SQL text (a WHERE clause built from a string is an injection).
 */
export const SQL = {
  personById: 'SELECT employ_id, name FROM persons WHERE employ_id = ?',
  areas: 'SELECT id, name FROM areas ORDER BY id',
  renamePerson: 'UPDATE persons SET name = ? WHERE employ_id = ?',
} as const

/** The persons table (employ_id, name). */
export const PERSONS = [
  'Mike',
  'Anna',
  'Kenji',
  'Sofia',
  'Liam',
  'Yuki',
  'Noah',
  'Mei',
  'Omar',
  'Ines',
  'Lukas',
  'Aiko',
  'Mateo',
  'Hana',
  'Elif',
  'Ravi',
  'Chloe',
  'Tariq',
  'Zoe',
  'Ivan',
]

/** The areas (the districts of a city), served by GET /areas. */
export const AREAS = [
  '东城区',
  '西城区',
  '朝阳区',
  '海淀区',
  '昌平区',
  '丰台区',
  '房山区',
  '通州区',
  '顺义区',
  '大兴区',
]

export interface Person {
  employ_id: number
  name: string
}

export interface Area {
  id: number
  name: string
}
