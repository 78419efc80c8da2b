-- One row per patient visit; the label comes first in the training files.
SELECT event_date,
       age, sex, bmi, bp, s1, s2, s3, s4, s5, s6,
       progression
FROM demo.diabetes
WHERE event_date >= %(start_date)s
  AND event_date < %(end_date)s
ORDER BY event_date, patient_id
